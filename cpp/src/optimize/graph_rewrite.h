// Shared by the optimization passes: a frozen copy of a TorchScript model's
// graph, the Linear layers in it, and turning the rewritten graph back into a
// Model.
#pragma once

#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/ir/ir.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mlship/engine/model.h"

namespace mlship::optimize_internal {

// A frozen copy of a model's module: parameters are graph constants and
// submodule calls are inlined, so every Linear is an `aten::linear` node.
struct FrozenCopy {
  torch::jit::Module module;
  std::shared_ptr<torch::jit::Graph> graph;
  // Fused Transformer calls switched to their unfused code, by op (see
  // unfuse.h); empty unless FreezeCopy was asked to unfuse.
  std::vector<std::pair<std::string, int>> unfused;
};

// Whether FreezeCopy keeps torch's fused Transformer fast paths.
enum class FusedPaths {
  kKeep,     // the graph as frozen: for passes that do not touch attention
  kUnfuse,   // switch them off so every attention Linear can be rewritten
};

// One `aten::linear` (or any layer with weight and bias as inputs 1 and 2)
// whose float weight and bias (or None) are constants.
struct LinearSite {
  torch::jit::Node* node = nullptr;
  at::Tensor weight;  // [out, in] for a Linear
  std::optional<at::Tensor> bias;
};

// Errors: FailedPrecondition for a model that is not TorchScript (a .pt2
// package was compiled ahead of time; its weights cannot be rewritten).
StatusOr<FrozenCopy> FreezeCopy(const Model& model, std::string_view technique,
                                FusedPaths fused_paths = FusedPaths::kKeep);

// Calls `visit` on every node of `block` and of the blocks nested in it.
void ForEachNode(torch::jit::Block* block, const std::function<void(torch::jit::Node*)>& visit);
// Every node of the graph, nested blocks included, in order.
std::vector<torch::jit::Node*> AllNodes(torch::jit::Graph& graph);

// "4 aten::_transformer_encoder_layer_fwd, 4 aten::_native_multi_head_attention"
// for a report; empty when nothing was unfused.
std::string DescribeUnfused(const FrozenCopy& copy);

// `node`'s inputs 1 and 2 when they are a constant float weight and a
// constant float bias (or None), as for aten::linear and aten::conv2d.
std::optional<LinearSite> ConstantWeightAndBias(torch::jit::Node* node);

// A constant, or a list built in the graph from constants.
bool IsConstant(torch::jit::Value* value);
// The ints of a constant int list (or of a list built from int constants).
std::optional<std::vector<int64_t>> ConstantInts(torch::jit::Value* value);

// The Linear layers of `graph` (inside Ifs and loops too), in graph order.
std::vector<LinearSite> FindLinears(torch::jit::Graph& graph);

// Each Linear of `sites` as "<name> <out>x<in>", comma-separated, named by
// the source module's parameter that holds its weight ("encoder.layers.0.
// linear1 1024x256"; a parameter not called `weight` keeps its own name, e.g.
// "...self_attn.in_proj_weight"): matched by storage, or by value where
// freezing copied it; "<out>x<in>" alone when none matches.
std::string DescribeLinears(const Model& model, const std::vector<LinearSite>& sites);

// A weight's shape for a report: "256x64" for a Linear's, "32x16x3x3" for a
// convolution's.
std::string ShapeText(const at::Tensor& weight);

// The same for any 2-D weights (embedding tables: "<name> <rows>x<dim>").
std::string DescribeWeights(const Model& model, const std::vector<at::Tensor>& weights);

// The path of the submodule whose code `node` was inlined from, as
// named_modules() names it ("layer1.0.conv1"), read from the node's inlined
// call stack; empty for a node written in the top module's own forward, or
// one a pass created without a call stack.
std::string ModulePath(const torch::jit::Node* node);

// A constant holding `value`, inserted just before `node`.
torch::jit::Value* InsertConstant(torch::jit::Node* node, const c10::IValue& value);

// Inserts `op(args...)` before `node` and returns its output.
torch::jit::Value* InsertCall(torch::jit::Node* node, std::string_view op, const std::vector<torch::jit::Value*>& args);

// A Tensor[] built from `items`, inserted before `before`.
torch::jit::Value* TensorList(torch::jit::Node* before, const std::vector<torch::jit::Value*>& items);

// Inserts `op(args...)` before `node`, points the uses of node's output at the
// new value and deletes `node`.
torch::jit::Value* ReplaceWithCall(torch::jit::Node* node, std::string_view op,
                                   const std::vector<torch::jit::Value*>& args);

// torch's frozen-graph simplifications: batch norms, and constant adds,
// subs, muls and divs, folded into the convolutions before them.
void FoldIntoConvolutions(std::shared_ptr<torch::jit::Graph>& graph);

// Drops dead constants and loads the rewritten module as a model with the
// original's signature and thread settings.
StatusOr<std::shared_ptr<Model>> BuildModel(FrozenCopy copy, const Model& original, std::string_view technique);

// Layers a pass leaves as they are, counted by op, e.g. "3 aten::conv2d,
// 1 aten::lstm"; empty when there are none. Ops in `handled` (the pass
// rewrote those with constant weights) are counted only when their weight is
// not a constant. Linears whose weight is computed at run time are counted too.
std::string DescribeUntouched(torch::jit::Graph& graph, const std::vector<std::string>& handled = {});

// "nothing to <verb>: the model has no Linear layers with constant weights"
std::string NothingToDo(std::string_view verb);

}  // namespace mlship::optimize_internal
