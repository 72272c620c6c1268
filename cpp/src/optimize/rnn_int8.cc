// int8 LSTM/GRU layers: `aten::lstm` / `aten::gru` -> one mlship::lstm_int8 /
// mlship::gru_int8 (mlship::lstm_proj_int8 with projections) call per layer and
// direction (lstm_packed_int8 / gru_packed_int8 for a PackedSequence; see
// int8_recurrent.h), with the
// initial states sliced per call and the final states stacked back, so the
// rest of the graph sees the same three (LSTM) or two (GRU) values.
#include <string>

#include "graph_rewrite.h"
#include "mlship/engine/int8_linear.h"
#include "quantize_passes.h"

namespace mlship::optimize_internal {
namespace {

const c10::Symbol kLstm = c10::Symbol::fromQualString("aten::lstm");

std::optional<c10::IValue> ConstantInput(const torch::jit::Node* node, std::size_t index) {
  return torch::jit::toIValue(node->input(index));
}

// The flags of the `input` overload (input, hx, params, has_biases,
// num_layers, dropout, train, bidirectional, batch_first), or of the `data`
// one (data, batch_sizes, hx, params, has_biases, ..., bidirectional).
StatusOr<RecurrentLayout> ReadFlags(const RnnSite& site) {
  const torch::jit::Node* node = site.node;
  const std::size_t after = site.ParamsIndex() + 1;
  auto has_biases = ConstantInput(node, after);
  auto layers = ConstantInput(node, after + 1);
  auto train = ConstantInput(node, after + 3);
  auto bidirectional = ConstantInput(node, after + 4);
  auto batch_first = site.packed ? std::optional<c10::IValue>(false) : ConstantInput(node, after + 5);
  if (!has_biases || !layers || !train || !bidirectional || !batch_first) {
    return Status::FailedPrecondition("its flags are computed at run time");
  }
  if (train->toBool()) return Status::FailedPrecondition("it runs in training mode (dropout between layers)");
  RecurrentLayout layout;
  layout.lstm = node->kind() == kLstm;
  layout.has_biases = has_biases->toBool();
  layout.layers = layers->toInt();
  layout.directions = bidirectional->toBool() ? 2 : 1;
  layout.batch_first = batch_first->toBool();
  layout.packed = site.packed;
  return layout;
}

}  // namespace

StatusOr<RecurrentLayout> Int8RecurrentLayout(const RnnSite& site) {
  ASSIGN_OR_RETURN(RecurrentLayout layout, ReadFlags(site));
  const std::size_t directions = static_cast<std::size_t>(layout.layers * layout.directions);
  // nn.LSTM(proj_size=...) adds a projection weight W_hr per layer and direction.
  if (layout.lstm && site.params.size() == directions * static_cast<std::size_t>(layout.PerDirection() + 1)) {
    layout.projections = true;
  }
  if (layout.projections && layout.packed) {
    return Status::FailedPrecondition("an LSTM with projections (proj_size) on a packed sequence is not supported");
  }
  const std::size_t expected = directions * static_cast<std::size_t>(layout.PerDirection());
  if (site.params.size() != expected) {
    return Status::FailedPrecondition("it has " + std::to_string(site.params.size()) + " weight tensors where " +
                                      std::to_string(expected) + " are expected");
  }
  const int64_t gates = layout.lstm ? 4 : 3;
  const std::string kind = layout.lstm ? "LSTM" : "GRU";
  for (std::size_t i = 0; i < directions; ++i) {
    const at::Tensor& w_ih = site.params[i * layout.PerDirection()];
    const at::Tensor& w_hh = site.params[i * layout.PerDirection() + 1];
    if (w_ih.dim() != 2 || w_hh.dim() != 2 || w_hh.size(0) % gates != 0 || w_ih.size(0) != w_hh.size(0)) {
      return Status::FailedPrecondition("its weights are not laid out as torch's " + kind + " gates");
    }
    const int64_t hidden = w_hh.size(0) / gates;
    if (!layout.projections && w_hh.size(1) != hidden) {
      return Status::FailedPrecondition("its weights are not laid out as torch's " + kind + " gates");
    }
    if (layout.projections) {
      const at::Tensor& w_hr = site.params[(i + 1) * layout.PerDirection() - 1];
      if (w_hr.dim() != 2 || w_hr.size(0) != w_hh.size(1) || w_hr.size(1) != hidden) {
        return Status::FailedPrecondition("its projection weights are not laid out as torch's (W_hr [proj, hidden])");
      }
    }
  }
  return layout;
}

void RecurrentToInt8(const RnnSite& site, const RecurrentLayout& layout, int64_t dynamic_from_rows) {
  torch::jit::Node* node = site.node;
  auto constant = [&](const c10::IValue& value) { return InsertConstant(node, value); };
  // bias_index -1: a weight without a bias (the projection W_hr).
  auto quantize = [&](int64_t weight_index, int64_t bias_index) {
    std::optional<at::Tensor> bias;
    if (layout.has_biases && bias_index >= 0) bias = site.params[bias_index];
    return constant(c10::IValue(Int8LinearWeight::Quantize(site.params[weight_index], bias, dynamic_from_rows)));
  };
  // LSTM: hx is [h0, c0], built in the graph (FindRecurrentLayers checked); GRU: hx is h0.
  torch::jit::Value* hx = node->input(site.HxIndex());
  torch::jit::Value* batch_sizes = layout.packed ? node->input(1) : nullptr;
  torch::jit::Value* h0_all = layout.lstm ? hx->node()->input(0) : hx;
  torch::jit::Value* c0_all = layout.lstm ? hx->node()->input(1) : nullptr;
  torch::jit::Value* x = node->input(0);
  std::vector<torch::jit::Value*> h_n, c_n;
  for (int64_t layer = 0; layer < layout.layers; ++layer) {
    std::vector<torch::jit::Value*> outputs;
    for (int64_t direction = 0; direction < layout.directions; ++direction) {
      const int64_t index = layer * layout.directions + direction;
      const int64_t first = index * layout.PerDirection();  // w_ih, w_hh[, b_ih, b_hh][, w_hr]
      auto state = [&](torch::jit::Value* all) {
        return InsertCall(node, "aten::select", {all, constant(int64_t{0}), constant(index)});
      };
      std::vector<torch::jit::Value*> args{x};
      if (layout.packed) args.push_back(batch_sizes);
      args.push_back(state(h0_all));
      if (layout.lstm) args.push_back(state(c0_all));
      args.insert(args.end(), {quantize(first, first + 2), quantize(first + 1, first + 3)});
      if (layout.projections) args.push_back(quantize(first + layout.PerDirection() - 1, -1));
      if (!layout.packed) args.push_back(constant(layout.batch_first));
      args.push_back(constant(direction == 1));
      const char* op = layout.packed       ? (layout.lstm ? "mlship::lstm_packed_int8" : "mlship::gru_packed_int8")
                       : layout.projections ? "mlship::lstm_proj_int8"
                       : layout.lstm        ? "mlship::lstm_int8"
                                            : "mlship::gru_int8";
      // Several results come back packed in a prim::TupleConstruct of the op's outputs.
      torch::jit::Value* packed = InsertCall(node, op, args);
      auto results = packed->node()->inputs();
      outputs.push_back(results[0]);
      h_n.push_back(results[1]);
      if (layout.lstm) c_n.push_back(results[2]);
    }
    x = outputs.size() == 1 ? outputs[0]
                            : InsertCall(node, "aten::cat", {TensorList(node, outputs), constant(int64_t{-1})});
  }
  node->output(0)->replaceAllUsesWith(x);
  node->output(1)->replaceAllUsesWith(InsertCall(node, "aten::stack", {TensorList(node, h_n), constant(int64_t{0})}));
  if (layout.lstm) {
    node->output(2)->replaceAllUsesWith(InsertCall(node, "aten::stack", {TensorList(node, c_n), constant(int64_t{0})}));
  }
  node->destroy();
}

}  // namespace mlship::optimize_internal
