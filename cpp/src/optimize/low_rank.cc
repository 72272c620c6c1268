// Low-rank factorization of Linear weights with Eigen's BDCSVD.
#include "mlship/optimize/low_rank.h"

#include <ATen/ATen.h>
#include <Eigen/SVD>

#include <sstream>

#include "graph_rewrite.h"

namespace mlship {
namespace {

using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// The smallest rank whose singular values keep `energy` of the squared norm.
int64_t RankForEnergy(const Eigen::VectorXf& singular, double energy) {
  const double total = singular.cast<double>().squaredNorm();
  if (total <= 0) return 1;
  double kept = 0;
  for (int64_t r = 0; r < singular.size(); ++r) {
    kept += static_cast<double>(singular[r]) * singular[r];
    if (kept >= energy * total) return r + 1;
  }
  return singular.size();
}

at::Tensor ToTensor(const RowMajor& m) {
  at::Tensor t = at::empty({m.rows(), m.cols()}, at::kFloat);
  Eigen::Map<RowMajor>(t.mutable_data_ptr<float>(), m.rows(), m.cols()) = m;
  return t;
}

}  // namespace

StatusOr<OptimizedModel> LowRank(const std::shared_ptr<Model>& model, const LowRankOptions& options) {
  if (options.rank && *options.rank < 1) {
    return Status::InvalidArgument("rank must be at least 1; was " + std::to_string(*options.rank));
  }
  if (!(options.energy > 0.0 && options.energy <= 1.0)) {
    std::ostringstream msg;
    msg << "energy must be in (0, 1]; was " << options.energy;
    return Status::InvalidArgument(msg.str());
  }
  if (model == nullptr) return Status::InvalidArgument("LowRank: no model");
  ASSIGN_OR_RETURN(auto copy, optimize_internal::FreezeCopy(*model, "low-rank factorization", optimize_internal::FusedPaths::kUnfuse));
  auto sites = optimize_internal::FindLinears(*copy.graph);
  PassReport report{"low_rank", static_cast<int>(sites.size()), 0, "", {}};
  if (sites.empty()) {
    report.summary = optimize_internal::NothingToDo("factor");
    return OptimizedModel{model, report};
  }
  std::ostringstream ranks, skipped;
  int64_t params_before = 0, params_after = 0;
  for (const auto& site : sites) {
    const int64_t out = site.weight.size(0), in = site.weight.size(1);
    at::Tensor w = site.weight.contiguous();
    Eigen::MatrixXf matrix = Eigen::Map<const RowMajor>(w.const_data_ptr<float>(), out, in);
    Eigen::BDCSVD<Eigen::MatrixXf> svd(matrix, Eigen::ComputeThinU | Eigen::ComputeThinV);
    const Eigen::VectorXf& singular = svd.singularValues();
    int64_t rank = options.rank ? std::min<int64_t>(*options.rank, singular.size())
                                : RankForEnergy(singular, options.energy);
    const std::string layer = std::to_string(out) + "x" + std::to_string(in);
    if (rank * (out + in) >= out * in) {
      skipped << (skipped.tellp() > 0 ? ", " : "") << layer << " (rank " << rank << ")";
      continue;
    }
    // Split the singular values evenly between the two factors.
    Eigen::VectorXf root = singular.head(rank).cwiseSqrt();
    RowMajor first = root.asDiagonal() * svd.matrixV().leftCols(rank).transpose();  // [rank, in]
    RowMajor second = svd.matrixU().leftCols(rank) * root.asDiagonal();             // [out, rank]
    torch::jit::Node* node = site.node;
    torch::jit::Value* a = optimize_internal::InsertConstant(node, ToTensor(first));
    torch::jit::Value* none = optimize_internal::InsertConstant(node, c10::IValue());
    torch::jit::Value* hidden = optimize_internal::InsertCall(node, "aten::linear", {node->input(0), a, none});
    torch::jit::Value* b = optimize_internal::InsertConstant(node, ToTensor(second));
    optimize_internal::ReplaceWithCall(node, "aten::linear", {hidden, b, node->input(2)});
    ranks << (ranks.tellp() > 0 ? ", " : "") << layer << " -> rank " << rank;
    params_before += out * in;
    params_after += rank * (out + in);
    ++report.layers_changed;
  }
  if (skipped.tellp() > 0) report.details.emplace_back("left dense (factoring would not shrink them)", skipped.str());
  if (report.layers_changed == 0) {
    report.summary = "nothing to factor: no Linear layer gets smaller at the chosen rank";
    return OptimizedModel{model, report};
  }
  ASSIGN_OR_RETURN(auto factored, optimize_internal::BuildModel(std::move(copy), *model, "low_rank"));
  report.details.emplace_back("ranks", ranks.str());
  report.details.emplace_back("weights", std::to_string(params_before) + " -> " + std::to_string(params_after) +
                                             " parameters in the factored layers");
  report.summary = "factored " + std::to_string(report.layers_changed) + " of " + std::to_string(report.layers_seen) +
                   " Linear layers: " + ranks.str();
  return OptimizedModel{factored, report};
}

}  // namespace mlship
