// Static int8 convolutions: batch norms folded, then chains of convolutions,
// ReLUs, residual adds and max pools run on int8 activations, with fixed
// ranges measured on calibration data.
//
// Why torch's quantized kernels: an int8 convolution needs an int8 GEMM with
// int32 accumulation, im2col and requantization tuned per ISA (fbgemm,
// oneDNN). LibTorch ships those as plain operators (quantized::conv2d,
// add_relu, conv2d_prepack), which mlship::conv2d_int8 (Int8ConvWeight)
// calls; nothing from torch.ao.quantization (the Python flow) is used.
// Writing that kernel by hand would be slower.
#include <ATen/ATen.h>
#include <torch/csrc/jit/api/function_impl.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "mlship/engine/error_text.h"
#include "mlship/engine/int8_conv.h"
#include "quantize_passes.h"

namespace mlship::optimize_internal {
namespace {

namespace jit = torch::jit;

bool Is(const jit::Node* node, const char* kind) { return node->kind() == c10::Symbol::fromQualString(kind); }

bool IsInPlace(const jit::Node* node) {
  const std::string name = node->kind().toUnqualString();
  return node->kind().is_aten() && !name.empty() && name.back() == '_';
}

// One node that will run on int8 activations.
struct QuantizedStep {
  enum Kind { kConv, kAdd, kMaxPool } kind = kConv;
  jit::Node* node = nullptr;
  jit::Node* relu = nullptr;  // fused into the step, or null
  std::optional<LinearSite> conv;
  // The step's result: the ReLU's output when one is fused.
  jit::Value* Output() const { return relu != nullptr ? relu->output() : node->output(); }
};

// The ReLU that is the only use of `value`, or null.
jit::Node* SoleRelu(jit::Value* value) {
  if (value->uses().size() != 1) return nullptr;
  jit::Node* user = value->uses()[0].user;
  return Is(user, "aten::relu") || Is(user, "aten::relu_") ? user : nullptr;
}

// Whether `value` is read more than once and written in place: a step reading
// its int8 copy would then miss the write. (A sole in-place user is safe: after
// the rewrite it writes the dequantized copy that nothing else reads.)
bool SharedAndWrittenInPlace(jit::Value* value) {
  if (value->uses().size() < 2) return false;
  for (const jit::Use& use : value->uses()) {
    if (IsInPlace(use.user) && use.offset == 0) return true;  // in-place ops write their first argument
  }
  return false;
}

// "layer1.0.conv1 16x8x3x3" for a report ("aten::conv2d 16x8x3x3" where the
// graph does not say which module the node came from).
std::string Describe(const jit::Node* node, const at::Tensor& weight) {
  const std::string path = ModulePath(node);
  return (path.empty() ? std::string(node->kind().toQualString()) : path) + " " + ShapeText(weight);
}

// Appends "<layer>: <why>" to a "; "-separated list.
void AddLeft(std::string& left, const std::string& layer, const std::string& why) {
  left += (left.empty() ? "" : "; ") + layer + ": " + why;
}

// The steps of the graph's top-level block, in order. A step reads at least one
// value that a step before it made, except convolutions, which start chains.
// `left` gets each 2-D convolution with constant weights that cannot be a step, and why.
std::vector<QuantizedStep> FindSteps(jit::Graph& graph, std::string& left) {
  std::vector<QuantizedStep> steps;
  std::set<jit::Value*> quantized;
  for (jit::Node* node : graph.nodes()) {
    QuantizedStep step;
    step.node = node;
    if (Is(node, "aten::conv2d") && node->inputs().size() == 7) {
      step.kind = QuantizedStep::kConv;
      step.conv = ConstantWeightAndBias(node);
      if (!step.conv || step.conv->weight.dim() != 4) continue;
      if (!ConstantInts(node->input(3)) || !ConstantInts(node->input(4)) || !ConstantInts(node->input(5)) ||
          !jit::toIValue(node->input(6))) {
        AddLeft(left, Describe(node, step.conv->weight), "padding given as a string, or parameters computed at run time");
        continue;
      }
    } else if ((Is(node, "aten::add") || Is(node, "aten::add_")) && node->inputs().size() == 3) {
      step.kind = QuantizedStep::kAdd;
      auto alpha = jit::toIValue(node->input(2));
      const bool tensors = node->input(0)->type()->cast<c10::TensorType>() && node->input(1)->type()->cast<c10::TensorType>();
      if (!tensors || !alpha || !alpha->isInt() || alpha->toInt() != 1) continue;
      if (!quantized.count(node->input(0)) && !quantized.count(node->input(1))) continue;
      if (Is(node, "aten::add_") && node->input(0)->uses().size() != 1) continue;
    } else if (Is(node, "aten::max_pool2d")) {
      step.kind = QuantizedStep::kMaxPool;
      if (!quantized.count(node->input(0))) continue;
      bool constants = true;
      for (std::size_t i = 1; i < node->inputs().size(); ++i) constants = constants && IsConstant(node->input(i));
      if (!constants) continue;
    } else {
      continue;
    }
    if (step.kind != QuantizedStep::kMaxPool) step.relu = SoleRelu(node->output());
    if (SharedAndWrittenInPlace(step.Output())) {
      if (step.conv) AddLeft(left, Describe(node, step.conv->weight), "its output is read again after an in-place write");
      continue;
    }
    quantized.insert(step.Output());
    steps.push_back(step);
  }
  return steps;
}

// The float values whose ranges the rewrite needs: each step's result, and
// each input of a step that no step made (it is quantized where it is read).
std::vector<jit::Value*> ObservedValues(const std::vector<QuantizedStep>& steps) {
  std::set<jit::Value*> made;
  std::vector<jit::Value*> observed;
  auto observe = [&](jit::Value* v) {
    if (std::find(observed.begin(), observed.end(), v) == observed.end()) observed.push_back(v);
  };
  for (const QuantizedStep& step : steps) {
    const std::size_t tensor_inputs = step.kind == QuantizedStep::kAdd ? 2 : 1;
    for (std::size_t i = 0; i < tensor_inputs; ++i) {
      if (!made.count(step.node->input(i))) observe(step.node->input(i));
    }
    made.insert(step.Output());
    observe(step.Output());  // for a max pool only its shape is used: it keeps its input's range
  }
  return observed;
}

// Each activation's range is its min and max over the calibration data. Two
// alternatives were measured on the bench CNN and dropped: clipping to the
// fraction of [min, max] with the least squared quantization error (agreement
// with fp32 fell from 97% to 88%: it clips the rare large activations that
// decide the class), and the mean of per-batch extremes (no better).
struct Range {
  double lo = 0;
  double hi = 0;
  std::vector<int64_t> shape;  // in the first batch
};

// Scale and zero point of an unsigned 8-bit quantization of [lo, hi] (which
// is widened to hold 0, so that zero padding and ReLU are exact).
std::pair<double, int64_t> QuantParams(const Range& range) {
  const double lo = std::min(range.lo, 0.0);
  const double hi = std::max(range.hi, 0.0);
  const double scale = hi > lo ? (hi - lo) / 255.0 : 1.0;
  const int64_t zero = std::clamp<int64_t>(std::llround(-lo / scale), 0, 255);
  return {scale, zero};
}

// Runs the graph on each calibration batch with the observed values as extra
// outputs (copied where they are made, so later in-place ops cannot change
// them), and returns each value's range. The graph is left as it was.
StatusOr<std::map<jit::Value*, Range>> Calibrate(FrozenCopy& copy, const std::vector<jit::Value*>& observed,
                                                 const CalibrationData& calibration) {
  jit::Graph& graph = *copy.graph;
  if (graph.outputs().size() != 1) return Status::FailedPrecondition("the model's graph has several outputs");
  jit::Value* result = graph.outputs()[0];
  // The graph returns (result, [observed...]) while it is calibrated: a
  // method has one output.
  std::vector<jit::Node*> added;
  std::map<jit::Value*, Range> ranges;
  Status status = Status::Ok();
  try {
    std::vector<jit::Value*> clones;
    for (jit::Value* value : observed) {
      const bool input = value->node()->kind() == c10::prim::Param;
      jit::WithInsertPoint guard(input ? graph.block()->nodes().front() : value->node()->next());
      clones.push_back(graph.insert(c10::Symbol::fromQualString("aten::clone"), {value}));
      added.push_back(clones.back()->node());
    }
    jit::Node* list = graph.createList(c10::TensorType::get(), clones)->insertBefore(graph.return_node());
    jit::Node* pair = graph.createTuple({result, list->output()})->insertBefore(graph.return_node());
    added.push_back(list);
    added.push_back(pair);
    graph.eraseOutput(0);
    graph.registerOutput(pair->output());
    jit::GraphFunction run("mlship_calibrate", graph.copy(), nullptr);
    for (const std::vector<at::Tensor>& batch : calibration) {
      jit::Stack stack;
      if (graph.inputs().size() == batch.size() + 1) stack.emplace_back(copy.module._ivalue());  // self
      for (const at::Tensor& input : batch) stack.emplace_back(input);
      run.run(stack);
      std::vector<at::Tensor> seen = stack.at(0).toTupleRef().elements().at(1).toTensorVector();
      for (std::size_t i = 0; i < observed.size(); ++i) {
        const at::Tensor& t = seen.at(i);
        if (!t.is_floating_point() || t.numel() == 0) continue;
        auto [lo, hi] = at::aminmax(t.to(at::kFloat));
        Range& range = ranges[observed[i]];
        range.lo = std::min(range.lo, lo.item<double>());
        range.hi = std::max(range.hi, hi.item<double>());
        if (range.shape.empty()) range.shape = t.sizes().vec();
      }
    }
  } catch (const std::exception& e) {
    status = Status::InvalidArgument(std::string("the calibration data does not run through the model: ") +
                                     ErrorSummary(e));
  }
  if (graph.outputs()[0] != result) {
    graph.eraseOutput(0);
    graph.registerOutput(result);
  }
  for (auto node = added.rbegin(); node != added.rend(); ++node) (*node)->destroy();
  if (!status.ok()) return status;
  return ranges;
}

// The convolution's weights, int8 per output channel, packed for `engine`.
c10::IValue PackConvolution(const QuantizedStep& step, const std::string& engine) {
  jit::Node* node = step.node;
  return c10::IValue(Int8ConvWeight::Quantize(step.conv->weight, step.conv->bias, *ConstantInts(node->input(3)),
                                              *ConstantInts(node->input(4)), *ConstantInts(node->input(5)),
                                              jit::toIValue(node->input(6))->toInt(), engine));
}

StaticInt8Summary Count(const std::vector<QuantizedStep>& steps) {
  StaticInt8Summary summary;
  for (const QuantizedStep& step : steps) {
    summary.convolutions += step.kind == QuantizedStep::kConv;
    if (step.kind == QuantizedStep::kConv) {
      summary.names += (summary.names.empty() ? "" : ", ") + Describe(step.node, step.conv->weight);
    }
    summary.adds += step.kind == QuantizedStep::kAdd;
    summary.pools += step.kind == QuantizedStep::kMaxPool;
  }
  return summary;
}

// The steps torch's int8 operators can run, by the shapes calibration saw:
// 4-D activations (a batch of images), and adds without broadcasting. A step
// left out stays in float; the steps after it quantize its result.
std::vector<QuantizedStep> KeepRunnable(const std::vector<QuantizedStep>& steps,
                                        const std::map<jit::Value*, Range>& ranges, std::string& left) {
  std::vector<QuantizedStep> kept;
  for (const QuantizedStep& step : steps) {
    const std::vector<int64_t>& out = ranges.at(step.Output()).shape;
    const std::vector<int64_t>& in = ranges.at(step.node->input(0)).shape;
    bool runnable = out.size() == 4 && in.size() == 4;
    if (step.kind == QuantizedStep::kAdd) runnable = runnable && ranges.at(step.node->input(1)).shape == in && in == out;
    if (runnable) {
      kept.push_back(step);
    } else if (step.conv) {
      AddLeft(left, Describe(step.node, step.conv->weight),
              "its activations are " + std::to_string(in.size()) + "-D; torch's int8 kernels take batches of images (4-D)");
    }
  }
  return kept;
}

struct Rewriter {
  jit::Graph& graph;
  const std::map<jit::Value*, Range>& ranges;
  const std::string& engine;
  std::map<jit::Value*, jit::Value*> int8_of;  // a float value -> its int8 version

  jit::Value* Constant(jit::Node* before, const c10::IValue& value) { return InsertConstant(before, value); }

  // The int8 version of `value`, quantized just before `reader` if no step made it.
  jit::Value* Int8(jit::Value* value, jit::Node* reader) {
    if (auto it = int8_of.find(value); it != int8_of.end()) return it->second;
    auto [scale, zero] = QuantParams(ranges.at(value));
    jit::Value* q = InsertCall(reader, "aten::quantize_per_tensor",
                               {value, Constant(reader, scale), Constant(reader, zero),
                                Constant(reader, static_cast<int64_t>(at::kQUInt8))});
    int8_of[value] = q;
    return q;
  }

  void Rewrite(const QuantizedStep& step) {
    jit::Node* at = step.node;
    jit::Value* out = nullptr;
    if (step.kind == QuantizedStep::kMaxPool) {
      std::vector<jit::Value*> args{Int8(at->input(0), at)};
      for (std::size_t i = 1; i < at->inputs().size(); ++i) args.push_back(at->input(i));
      out = InsertCall(at, "aten::max_pool2d", args);
    } else {
      auto [scale, zero] = QuantParams(ranges.at(step.Output()));
      jit::Value* s = Constant(at, scale);
      jit::Value* z = Constant(at, zero);
      const bool relu = step.relu != nullptr;
      if (step.kind == QuantizedStep::kConv) {
        jit::Value* packed = Constant(at, PackConvolution(step, engine));
        out = InsertCall(at, "mlship::conv2d_int8", {Int8(at->input(0), at), packed, s, z, Constant(at, relu)});
      } else {
        jit::Value* a = Int8(at->input(0), at);
        jit::Value* b = Int8(at->input(1), at);
        out = InsertCall(at, relu ? "quantized::add_relu" : "quantized::add", {a, b, s, z});
      }
    }
    out->setType(step.Output()->type());
    int8_of[step.Output()] = out;
  }

  // Points every float use of a step's result at a dequantized copy, then
  // removes the old nodes (last first, so no removed node is still read).
  void Finish(const std::vector<QuantizedStep>& steps) {
    for (auto step = steps.rbegin(); step != steps.rend(); ++step) {
      jit::Value* q = int8_of.at(step->Output());
      jit::WithInsertPoint guard(q->node()->next());
      jit::Value* dq = graph.insert(c10::Symbol::fromQualString("aten::dequantize"), {q});
      dq->setType(step->Output()->type());
      step->Output()->replaceAllUsesWith(dq);
      if (step->relu != nullptr) step->relu->destroy();
      step->node->destroy();
    }
    jit::EliminateDeadCode(graph.block());
  }
};

}  // namespace

StatusOr<StaticInt8Summary> ConvolutionsToStaticInt8(FrozenCopy& copy, const CalibrationData& calibration,
                                                     const std::string& engine) {
  if (calibration.empty()) return Status::InvalidArgument("static int8 convolutions need calibration data");
  try {
    FoldIntoConvolutions(copy.graph);
  } catch (const std::exception& e) {
    return Status::FailedPrecondition(std::string("batch norms could not be folded: ") + ErrorSummary(e));
  }
  std::string left;
  std::vector<QuantizedStep> steps = FindSteps(*copy.graph, left);
  StaticInt8Summary summary = Count(steps);
  if (summary.convolutions == 0) return Status::NotFound("no 2-D convolution with constant weights");
  std::vector<jit::Value*> observed = ObservedValues(steps);
  ASSIGN_OR_RETURN(auto ranges, Calibrate(copy, observed, calibration));
  for (jit::Value* value : observed) {
    auto it = ranges.find(value);
    if (it == ranges.end()) return Status::InvalidArgument("the calibration data produced no float values to measure");
    if (!std::isfinite(it->second.lo) || !std::isfinite(it->second.hi)) {
      return Status::InvalidArgument("the calibration data produced non-finite activations");
    }
  }
  steps = KeepRunnable(steps, ranges, left);
  summary = Count(steps);
  summary.left = left;
  if (summary.convolutions == 0) {
    return Status::FailedPrecondition("no convolution has batched 4-D activations for torch's int8 operators");
  }
  try {
    Rewriter rewriter{*copy.graph, ranges, engine, {}};
    for (const QuantizedStep& step : steps) rewriter.Rewrite(step);
    rewriter.Finish(steps);
  } catch (const std::exception& e) {
    return Status::FailedPrecondition(std::string("torch's quantized operators refused the model: ") + ErrorSummary(e));
  }
  summary.engine = engine;
  summary.calibration_rows = 0;
  for (const auto& batch : calibration) summary.calibration_rows += batch.empty() ? 0 : batch[0].size(0);
  return summary;
}

}  // namespace mlship::optimize_internal
