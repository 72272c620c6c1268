// Shared by the optimization passes: a frozen copy of a TorchScript model's
// graph, the Linear layers in it, and turning the rewritten graph back into a
// Model.
#pragma once

#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/ir/ir.h>

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
};

// One `aten::linear` whose weight (2-D float) and bias (or None) are constants.
struct LinearSite {
  torch::jit::Node* node = nullptr;
  at::Tensor weight;  // [out, in]
  std::optional<at::Tensor> bias;
};

// Errors: FailedPrecondition for a model that is not TorchScript (a .pt2
// package was compiled ahead of time; its weights cannot be rewritten).
StatusOr<FrozenCopy> FreezeCopy(const Model& model, std::string_view technique);

// The Linear layers of `graph`, in graph order.
std::vector<LinearSite> FindLinears(torch::jit::Graph& graph);

// A constant holding `value`, inserted just before `node`.
torch::jit::Value* InsertConstant(torch::jit::Node* node, const c10::IValue& value);

// Inserts `op(args...)` before `node` and returns its output.
torch::jit::Value* InsertCall(torch::jit::Node* node, std::string_view op, const std::vector<torch::jit::Value*>& args);

// Inserts `op(args...)` before `node`, points the uses of node's output at the
// new value and deletes `node`.
torch::jit::Value* ReplaceWithCall(torch::jit::Node* node, std::string_view op,
                                   const std::vector<torch::jit::Value*>& args);

// Drops dead constants and loads the rewritten module as a model with the
// original's signature and thread settings.
StatusOr<std::shared_ptr<Model>> BuildModel(FrozenCopy copy, const Model& original, std::string_view technique);

// "nothing to <verb>: the model has no Linear layers with constant weights"
std::string NothingToDo(std::string_view verb);

}  // namespace mlship::optimize_internal
