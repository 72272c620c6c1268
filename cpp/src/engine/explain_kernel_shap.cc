// KernelSHAP (Lundberg & Lee 2017): Shapley values of each input feature as
// the weighted least-squares fit of coalition values, with the efficiency
// constraint sum(phi) = f(x) - E f(background) eliminated as shap's
// KernelExplainer does. Forward passes only, so it works for every format.
//
// Coalitions follow shap's scheme: subset sizes whose every subset (and its
// complement) fits in the sample budget are enumerated with their exact
// Shapley-kernel weight; the remaining budget is drawn at random (pairs of a
// subset and its complement) from the remaining sizes. When 2^M - 2 <=
// samples, every coalition is enumerated and the values are exact. Features
// equal to the background in every background row get 0 and take no part,
// as in shap. The evaluations of one row (coalitions × background rows) run
// as batches. The least-squares solve uses Eigen.
#include <ATen/ATen.h>

#include <Eigen/Dense>
#include <cmath>
#include <map>
#include <numeric>
#include <random>

#include "explain_internal.h"
#include "mlship/engine/error_text.h"

namespace mlship::explain_internal {
namespace {

double Binomial(int64_t n, int64_t k) {
  return std::exp(std::lgamma(n + 1.0) - std::lgamma(k + 1.0) - std::lgamma(n - k + 1.0));
}

// Coalitions over M features: rows of `masks` (1 = the feature takes the
// explained row's value) and their kernel weights.
struct Coalitions {
  std::vector<std::vector<uint8_t>> masks;
  std::vector<double> weights;

  void Add(std::vector<uint8_t> mask, double weight) {
    masks.push_back(std::move(mask));
    weights.push_back(weight);
  }
};

Coalitions ChooseCoalitions(int64_t m, int64_t samples, uint64_t seed) {
  Coalitions out;
  const int64_t sizes = (m - 1 + 1) / 2;        // ceil((M - 1) / 2)
  const int64_t paired_sizes = (m - 1) / 2;    // floor((M - 1) / 2)
  std::vector<double> weight(sizes);
  for (int64_t s = 1; s <= sizes; ++s) weight[s - 1] = (m - 1.0) / (s * (m - s)) * (s <= paired_sizes ? 2.0 : 1.0);
  const double total = std::accumulate(weight.begin(), weight.end(), 0.0);
  for (double& w : weight) w /= total;

  std::vector<double> remaining = weight;
  int64_t full_sizes = 0;
  double samples_left = static_cast<double>(samples);
  for (int64_t s = 1; s <= sizes; ++s) {
    double subsets = Binomial(m, s) * (s <= paired_sizes ? 2.0 : 1.0);
    if (samples_left * remaining[s - 1] / subsets < 1.0 - 1e-8) break;
    ++full_sizes;
    samples_left -= subsets;
    if (remaining[s - 1] < 1.0) {
      const double scale = 1.0 - remaining[s - 1];
      for (double& r : remaining) r /= scale;
    }
    double w = weight[s - 1] / Binomial(m, s);
    if (s <= paired_sizes) w /= 2.0;
    // Every subset of size s, in lexicographic order, and its complement.
    std::vector<int64_t> pick(s);
    std::iota(pick.begin(), pick.end(), 0);
    while (true) {
      std::vector<uint8_t> mask(m, 0);
      for (int64_t i : pick) mask[i] = 1;
      if (s <= paired_sizes) {
        std::vector<uint8_t> complement(m);
        for (int64_t i = 0; i < m; ++i) complement[i] = 1 - mask[i];
        out.Add(std::move(mask), w);
        out.Add(std::move(complement), w);
      } else {
        out.Add(std::move(mask), w);
      }
      int64_t i = s - 1;
      while (i >= 0 && pick[i] == m - s + i) --i;
      if (i < 0) break;
      ++pick[i];
      for (int64_t j = i + 1; j < s; ++j) pick[j] = pick[j - 1] + 1;
    }
  }
  if (full_sizes == sizes) return out;

  // Sample the rest: sizes by their remaining kernel weight, subsets
  // uniformly, each with its complement; a repeat adds weight instead.
  const std::size_t fixed = out.masks.size();
  std::vector<double> size_weight(weight.begin() + full_sizes, weight.end());
  for (int64_t k = 0; k < static_cast<int64_t>(size_weight.size()); ++k) {
    if (k + full_sizes < paired_sizes) size_weight[k] /= 2.0;
  }
  std::mt19937_64 rng(seed);
  std::discrete_distribution<int64_t> draw_size(size_weight.begin(), size_weight.end());
  std::map<std::vector<uint8_t>, std::size_t> seen;
  std::vector<int64_t> order(m);
  int64_t left = static_cast<int64_t>(samples_left);
  for (int64_t attempt = 0; left > 0 && attempt < 4 * samples; ++attempt) {
    const int64_t s = draw_size(rng) + full_sizes + 1;
    std::iota(order.begin(), order.end(), 0);
    for (int64_t i = 0; i < s; ++i) {  // partial Fisher-Yates: the first s are a uniform subset
      std::uniform_int_distribution<int64_t> pick(i, m - 1);
      std::swap(order[i], order[pick(rng)]);
    }
    std::vector<uint8_t> mask(m, 0);
    for (int64_t i = 0; i < s; ++i) mask[order[i]] = 1;
    auto it = seen.find(mask);
    const bool fresh = it == seen.end();
    std::size_t at = fresh ? out.masks.size() : it->second;
    if (fresh) {
      seen.emplace(mask, at);
      --left;
      out.Add(mask, 1.0);
    } else {
      out.weights[at] += 1.0;
    }
    if (left > 0 && s <= paired_sizes) {
      std::vector<uint8_t> complement(m);
      for (int64_t i = 0; i < m; ++i) complement[i] = 1 - mask[i];
      if (fresh) {
        --left;
        out.Add(std::move(complement), 1.0);
      } else {
        out.weights[at + 1] += 1.0;
      }
    }
  }
  const double weight_left = std::accumulate(weight.begin() + full_sizes, weight.end(), 0.0);
  const double sampled = std::accumulate(out.weights.begin() + fixed, out.weights.end(), 0.0);
  if (sampled > 0) {
    for (std::size_t k = fixed; k < out.weights.size(); ++k) out.weights[k] *= weight_left / sampled;
  }
  return out;
}

// phi over the M varying features: the constrained weighted least squares.
Eigen::VectorXd SolveShapley(const Coalitions& c, const Eigen::VectorXd& values, double fx, double fnull) {
  const int64_t k = static_cast<int64_t>(c.masks.size());
  const int64_t m = static_cast<int64_t>(c.masks[0].size());
  // Eliminate the last feature: phi_last = (fx - fnull) - sum(others).
  Eigen::MatrixXd design(k, m - 1);
  Eigen::VectorXd target(k);
  Eigen::VectorXd w(k);
  for (int64_t r = 0; r < k; ++r) {
    const double last = c.masks[r][m - 1];
    for (int64_t j = 0; j + 1 < m; ++j) design(r, j) = c.masks[r][j] - last;
    target(r) = values(r) - fnull - last * (fx - fnull);
    w(r) = c.weights[r];
  }
  Eigen::MatrixXd normal = design.transpose() * w.asDiagonal() * design;
  Eigen::VectorXd rhs = design.transpose() * (w.asDiagonal() * target);
  Eigen::VectorXd partial = normal.completeOrthogonalDecomposition().solve(rhs);
  Eigen::VectorXd phi(m);
  phi.head(m - 1) = partial;
  phi(m - 1) = (fx - fnull) - partial.sum();
  return phi;
}

}  // namespace

int64_t KernelShapSamples(const ExplainOptions& options, int64_t features) {
  int64_t samples = options.samples > 0 ? options.samples : 2 * features + 2048;
  if (features <= 30) samples = std::min<int64_t>(samples, (int64_t{1} << features) - 2);
  return std::max<int64_t>(samples, 0);
}

Status ExplainByKernelShap(const ExplainContext& context, Explanation* out) {
  const ExplainOptions& options = *context.options;
  const int64_t rows = context.rows;
  const std::size_t n_inputs = context.inputs.size();
  try {
    // Flattened rows and backgrounds, and each input's offset in the
    // concatenated feature vector.
    std::vector<at::Tensor> flat_x, flat_bg;
    std::vector<int64_t> offsets = {0};
    const int64_t background = context.baselines[0].size(0);
    for (std::size_t i = 0; i < n_inputs; ++i) {
      if (context.baselines[i].size(0) != background) {
        return Status::InvalidArgument("every input's background needs the same number of rows; input 0 has " +
                                       std::to_string(background) + ", input " + std::to_string(i) + " has " +
                                       std::to_string(context.baselines[i].size(0)));
      }
      flat_x.push_back(context.inputs[i].reshape({rows, -1}));
      flat_bg.push_back(context.baselines[i].reshape({background, -1}));
      offsets.push_back(offsets.back() + flat_x.back().size(1));
    }
    const int64_t features = offsets.back();
    at::Tensor x_all = at::cat([&] {
      std::vector<at::Tensor> v;
      for (auto& t : flat_x) v.push_back(t.to(at::kDouble));
      return v;
    }(), 1);
    at::Tensor bg_all = at::cat([&] {
      std::vector<at::Tensor> v;
      for (auto& t : flat_bg) v.push_back(t.to(at::kDouble));
      return v;
    }(), 1);

    // E f(background) for each target: run the background once.
    ASSIGN_OR_RETURN(auto bg_outputs, RunSliced(context, context.baselines));
    out->evaluations += background;
    at::Tensor bg_flat = FlatOutput(bg_outputs[options.output_index]).to(at::kDouble);
    at::Tensor out_flat = FlatOutput(out->outputs[options.output_index]).to(at::kDouble);

    at::Tensor phi_all = at::zeros({rows, features}, at::kDouble);
    at::Tensor delta = at::zeros({rows}, at::kFloat);
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t target = context.targets[r].item<int64_t>();
      const double fnull = bg_flat.select(1, target).mean().item<double>();
      const double fx = out_flat[r][target].item<double>();
      at::Tensor varying_mask = (bg_all != x_all[r].unsqueeze(0)).any(0);
      at::Tensor varying = varying_mask.nonzero().reshape({-1}).contiguous();
      const int64_t m = varying.size(0);
      if (m == 0) continue;
      if (m == 1) {
        phi_all[r][varying[0].item<int64_t>()] = fx - fnull;
        continue;
      }
      const int64_t samples = KernelShapSamples(options, m);
      Coalitions coalitions = ChooseCoalitions(m, samples, options.seed + static_cast<uint64_t>(r));
      const int64_t k = static_cast<int64_t>(coalitions.masks.size());
      // [k, features]: 1 takes x; features that never vary take x too.
      at::Tensor small = at::empty({k, m}, at::kBool);
      auto acc = small.accessor<bool, 2>();
      for (int64_t a = 0; a < k; ++a) {
        for (int64_t j = 0; j < m; ++j) acc[a][j] = coalitions.masks[a][j] != 0;
      }
      at::Tensor full = at::ones({k, features}, at::kBool);
      full.index_copy_(1, varying, small);
      std::vector<at::Tensor> batch;
      for (std::size_t i = 0; i < n_inputs; ++i) {
        at::Tensor mask = full.narrow(1, offsets[i], offsets[i + 1] - offsets[i]).unsqueeze(1);  // [k,1,Mi]
        at::Tensor xs = flat_x[i][r].reshape({1, 1, -1});
        at::Tensor bs = flat_bg[i].unsqueeze(0);  // [1,B,Mi]
        std::vector<int64_t> shape = {k * background};
        auto rest = context.inputs[i].sizes().slice(1);
        shape.insert(shape.end(), rest.begin(), rest.end());
        batch.push_back(at::where(mask, xs, bs).reshape(shape).contiguous());
      }
      ASSIGN_OR_RETURN(at::Tensor scores,
                       TargetScores(context, batch, at::full({k * background}, target, at::kLong)));
      out->evaluations += k * background;
      at::Tensor values = scores.reshape({k, background}).mean(1).contiguous();
      Eigen::Map<const Eigen::VectorXd> value_vec(values.data_ptr<double>(), k);
      Eigen::VectorXd phi = SolveShapley(coalitions, value_vec, fx, fnull);
      at::Tensor phi_t = at::from_blob(phi.data(), {m}, at::kDouble).clone();
      phi_all[r].index_copy_(0, varying, phi_t);
      delta[r] = static_cast<float>(phi.sum() - (fx - fnull));
    }
    for (std::size_t i = 0; i < n_inputs; ++i) {
      at::Tensor a = phi_all.narrow(1, offsets[i], offsets[i + 1] - offsets[i]).reshape(context.inputs[i].sizes());
      out->attributions.push_back(a.to(at::kFloat).contiguous());
    }
    out->delta = delta;
  } catch (const std::exception& e) {
    return Status::InferenceFailed(std::string("kernel_shap failed: ") + ErrorSummary(e));
  }
  return Status::Ok();
}

}  // namespace mlship::explain_internal
