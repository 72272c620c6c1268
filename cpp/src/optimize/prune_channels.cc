// Channel groups for structured pruning (see prune_internal.h).
//
// Values that must keep the same channels are joined with a small union-find
// (hand-written: a few dozen lines, and torch's alias analysis answers a
// different question, which values share memory).
#include <ATen/ATen.h>

#include <algorithm>
#include <set>

#include "prune_internal.h"

namespace mlship::optimize_internal {
namespace {

using torch::jit::Node;
using torch::jit::Value;

bool Is(const Node* node, std::initializer_list<const char*> kinds) {
  for (const char* kind : kinds) {
    if (node->kind() == c10::Symbol::fromQualString(kind)) return true;
  }
  return false;
}

bool OnlyFirstInputIsATensor(const Node* node) {
  for (std::size_t i = 1; i < node->inputs().size(); ++i) {
    if (node->input(i)->type()->cast<c10::TensorType>()) return false;
  }
  return node->outputs().size() == 1;
}

// Ops that map each channel to the same channel and a zero channel to zero.
bool IsChannelwise(const Node* node) {
  if (IsZeroPreservingElementwise(node)) return true;
  return Is(node, {"aten::max_pool1d", "aten::max_pool2d", "aten::max_pool3d", "aten::avg_pool1d", "aten::avg_pool2d",
                   "aten::avg_pool3d", "aten::adaptive_avg_pool1d", "aten::adaptive_avg_pool2d",
                   "aten::adaptive_avg_pool3d"}) &&
         OnlyFirstInputIsATensor(node);
}

// a + b of two tensors (a residual connection).
bool IsTensorAdd(const Node* node) {
  return Is(node, {"aten::add", "aten::add_"}) && node->inputs().size() >= 2 && node->outputs().size() == 1 &&
         node->input(0)->type()->cast<c10::TensorType>() && node->input(1)->type()->cast<c10::TensorType>();
}

// A mean over every dimension after the channels, keepdim false: [N, C, ...] -> [N, C].
bool IsGlobalMean(const Node* node, int64_t rank) {
  if (!Is(node, {"aten::mean"}) || node->inputs().size() < 3) return false;
  auto dims = torch::jit::toIValue(node->input(1));
  auto keepdim = torch::jit::toIValue(node->input(2));
  if (!dims || !dims->isIntList() || !keepdim || !keepdim->isBool() || keepdim->toBool()) return false;
  std::set<int64_t> seen;
  for (int64_t d : dims->toIntVector()) seen.insert(d < 0 ? d + rank : d);
  std::set<int64_t> spatial;
  for (int64_t d = 2; d < rank; ++d) spatial.insert(d);
  return seen == spatial;
}

// flatten(x, 1) of a pooling to size 1 in every spatial dimension: [N, C, 1, 1] -> [N, C].
bool IsFlattenOfGlobalPool(const Node* node) {
  if (!Is(node, {"aten::flatten"}) || node->inputs().size() < 3) return false;
  auto start = torch::jit::toIValue(node->input(1));
  auto end = torch::jit::toIValue(node->input(2));
  if (!start || !end || !start->isInt() || !end->isInt() || start->toInt() != 1 || end->toInt() != -1) return false;
  const Node* pool = node->input(0)->node();
  if (!Is(pool, {"aten::adaptive_avg_pool1d", "aten::adaptive_avg_pool2d", "aten::adaptive_avg_pool3d"})) return false;
  auto size = torch::jit::toIValue(pool->input(1));
  if (!size || !size->isIntList()) return false;
  auto sizes = size->toIntVector();
  return std::all_of(sizes.begin(), sizes.end(), [](int64_t s) { return s == 1; });
}

class ValueSets {
 public:
  const Value* Find(const Value* v) {
    auto it = parent_.find(v);
    if (it == parent_.end()) return parent_[v] = v;
    if (it->second == v) return v;
    return it->second = Find(it->second);
  }
  void Join(const Value* a, const Value* b) {
    const Value* ra = Find(a);
    const Value* rb = Find(b);
    if (ra != rb) parent_[ra] = rb;
  }
  std::vector<const Value*> Members() const {
    std::vector<const Value*> out;
    for (const auto& [value, parent] : parent_) out.push_back(value);
    return out;
  }

 private:
  std::unordered_map<const Value*, const Value*> parent_;
};

int64_t RankOf(const Node* conv) {
  if (Is(conv, {"aten::conv1d"})) return 3;
  if (Is(conv, {"aten::conv3d"})) return 5;
  return 4;
}

struct Group {
  std::vector<const LinearSite*> producers;
  std::vector<const LinearSite*> consumers;  // convolutions and Linears that read the channels
  bool valid = true;
};

}  // namespace

ChannelCounts PlanChannelGroups(const std::vector<LinearSite>& convolutions, const std::vector<LinearSite>& linears,
                                double amount, CutPlan& plan) {
  ChannelCounts counts;
  if (convolutions.empty()) return counts;
  std::unordered_map<const Node*, const LinearSite*> conv_of, linear_of;
  for (const LinearSite& site : convolutions) conv_of[site.node] = &site;
  for (const LinearSite& site : linears) linear_of[site.node] = &site;
  torch::jit::Graph& graph = *convolutions.front().node->owningGraph();

  ValueSets sets;
  for (const LinearSite& site : convolutions) sets.Find(site.node->output());
  for (Node* node : AllNodes(graph)) {
    if (IsChannelwise(node)) sets.Join(node->input(0), node->output());
    if (IsTensorAdd(node)) {
      sets.Join(node->input(0), node->input(1));
      sets.Join(node->input(0), node->output());
    }
  }
  std::unordered_map<const Value*, Group> groups;
  for (const LinearSite& site : convolutions) groups[sets.Find(site.node->output())].producers.push_back(&site);
  for (const Value* value : sets.Members()) {
    auto it = groups.find(sets.Find(value));
    if (it == groups.end()) continue;  // no convolution makes these channels
    Group& group = it->second;
    const Node* made_by = value->node();
    const int64_t rank = RankOf(group.producers.front()->node);
    if (!conv_of.count(made_by) && !IsChannelwise(made_by) && !IsTensorAdd(made_by)) group.valid = false;
    for (const torch::jit::Use& use : value->uses()) {
      const Node* user = use.user;
      if ((IsChannelwise(user) && use.offset == 0) || (IsTensorAdd(user) && use.offset <= 1)) continue;
      if (auto conv = conv_of.find(user); conv != conv_of.end() && use.offset == 0) {
        group.consumers.push_back(conv->second);
        continue;
      }
      if (use.offset == 0 && (IsGlobalMean(user, rank) || IsFlattenOfGlobalPool(user))) {
        for (const torch::jit::Use& next : user->output()->uses()) {
          auto linear = linear_of.find(next.user);
          if (linear == linear_of.end() || next.offset != 0) {
            group.valid = false;
          } else {
            group.consumers.push_back(linear->second);
          }
        }
        continue;
      }
      group.valid = false;  // a graph output, a reshape, a batch norm left unfolded, ...
    }
  }
  for (auto& [root, group] : groups) {
    const int64_t channels = group.producers.front()->weight.size(0);
    for (const LinearSite* p : group.producers) group.valid = group.valid && p->weight.size(0) == channels;
    const int64_t keep = KeepOf(channels, amount);
    if (!group.valid || group.consumers.empty() || keep == channels) continue;
    at::Tensor kept = StrongestRows(group.producers, keep);
    for (const LinearSite* p : group.producers) plan[p->node].rows = kept;
    for (const LinearSite* c : group.consumers) plan[c->node].cols = kept;
    counts.before += channels;
    counts.after += keep;
  }
  return counts;
}

}  // namespace mlship::optimize_internal
