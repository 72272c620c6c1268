// UnfuseFastPaths: switch off torch's fused Transformer branches and simplify.
#include "unfuse.h"

#include <torch/csrc/jit/passes/common_subexpression_elimination.h>
#include <torch/csrc/jit/passes/constant_propagation.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>
#include <torch/csrc/jit/passes/freeze_module.h>

namespace mlship::optimize_internal {
namespace {

constexpr const char* kFusedOps[] = {"aten::_transformer_encoder_layer_fwd", "aten::_native_multi_head_attention"};

// A bool constant at the top of the graph, where every block can see it.
torch::jit::Value* BoolConstant(torch::jit::Graph& graph, bool value) {
  torch::jit::WithInsertPoint guard(graph.block()->nodes().front());
  return graph.insertConstant(value);
}

// `a is a` -> true, `a is not a` -> false. Returns how many were folded.
int FoldSelfIdentity(torch::jit::Graph& graph) {
  static const auto kIs = c10::Symbol::fromQualString("aten::__is__");
  static const auto kIsNot = c10::Symbol::fromQualString("aten::__isnot__");
  int folded = 0;
  for (torch::jit::Node* node : AllNodes(graph)) {
    if ((node->kind() != kIs && node->kind() != kIsNot) || node->inputs().size() != 2) continue;
    if (node->input(0) != node->input(1)) continue;
    node->output()->replaceAllUsesWith(BoolConstant(graph, node->kind() == kIs));
    ++folded;
  }
  return folded;
}

// An If output that every branch yields from the same value as an earlier
// output is that output. Returns how many were merged.
int MergeTwinIfOutputs(torch::jit::Graph& graph) {
  int merged = 0;
  for (torch::jit::Node* node : AllNodes(graph)) {
    if (node->kind() != c10::prim::If) continue;
    const auto outputs = node->outputs();
    for (std::size_t j = 1; j < outputs.size(); ++j) {
      if (!outputs[j]->hasUses()) continue;
      for (std::size_t i = 0; i < j; ++i) {
        bool twins = true;
        for (torch::jit::Block* block : node->blocks()) twins = twins && block->outputs()[i] == block->outputs()[j];
        if (!twins) continue;
        outputs[j]->replaceAllUsesWith(outputs[i]);
        ++merged;
        break;
      }
    }
  }
  return merged;
}

void Simplify(std::shared_ptr<torch::jit::Graph>& graph) {
  for (int round = 0; round < 16; ++round) {
    torch::jit::EliminateCommonSubexpression(graph);
    int changed = MergeTwinIfOutputs(*graph) + FoldSelfIdentity(*graph);
    torch::jit::ConstantPropagationImmutableTypes(graph);
    torch::jit::EliminateDeadCode(graph);
    if (changed == 0) break;
  }
}

// The branch index of `node`'s If that does not contain it; -1 when `node`
// is not directly inside a two-branch If.
int OtherBranch(torch::jit::Node* node) {
  torch::jit::Node* owner = node->owningBlock()->owningNode();
  if (owner == nullptr || owner->kind() != c10::prim::If || owner->blocks().size() != 2) return -1;
  return owner->blocks()[0] == node->owningBlock() ? 1 : 0;
}

}  // namespace

int UnfuseResult::total() const {
  int sum = 0;
  for (const auto& [op, count] : unfused) sum += count;
  return sum;
}

UnfuseResult UnfuseFastPaths(FrozenCopy& copy) {
  UnfuseResult result;
  torch::jit::Graph& graph = *copy.graph;
  for (const char* name : kFusedOps) {
    const auto kind = c10::Symbol::fromQualString(name);
    int count = 0;
    for (torch::jit::Node* node : AllNodes(graph)) {
      if (node->kind() != kind) continue;
      const int other = OtherBranch(node);
      if (other < 0) continue;
      // The condition value may also be the If-chain's "returned early" flag;
      // replacing every use keeps the two consistent.
      torch::jit::Node* owner = node->owningBlock()->owningNode();
      torch::jit::Value* constant = BoolConstant(graph, other == 0);
      const auto source = owner->input(0)->node()->kind();
      if (source == c10::prim::Constant || source == c10::prim::Param) {
        owner->replaceInput(0, constant);  // shared with unrelated uses
      } else {
        owner->input(0)->replaceAllUsesWith(constant);
      }
      ++count;
    }
    if (count > 0) result.unfused.emplace_back(name, count);
  }
  if (result.total() == 0) return result;
  Simplify(copy.graph);
  copy.module = torch::jit::freeze_module(copy.module);
  copy.graph = copy.module.get_method("forward").graph();
  Simplify(copy.graph);
  return result;
}

}  // namespace mlship::optimize_internal
