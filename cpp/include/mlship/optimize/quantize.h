// Quantize: int8, fp16 or bf16 Linear layers on a TorchScript model's graph.
//
// The pass freezes a copy of the module (parameters become graph constants),
// then rewrites each `aten::linear` with constant weights:
// - int8: to `mlship::linear_int8` with per-output-channel symmetric int8
//   weights (Int8LinearWeight), run by torch's dynamic int8 kernel or by
//   mlship's weight-only kernel, whichever measured faster for the batch size;
// - fp16 / bf16: to `mlship::linear_half` with half-precision weights, computed
//   in half precision or widened per call, whichever measured faster.
// Nothing in torch.ao.quantization is used.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <string_view>
#include <vector>

#include "mlship/optimize/pass_report.h"

namespace mlship {

// Calibration batches, each one holding the model's inputs.
using CalibrationData = std::vector<std::vector<at::Tensor>>;

enum class QuantDType { kInt8, kFloat16, kBFloat16 };

// Which int8 kernel to use.
enum class Int8Mode {
  kAuto,        // measure both on this machine and take the faster per batch size
  kDynamic,     // activations quantized per batch; torch's kernel where it has one
  kWeightOnly,  // float activations times int8 weights (mlship's kernel)
};

// "int8" | "fp16" | "bf16"; InvalidArgument listing those otherwise.
StatusOr<QuantDType> ParseQuantDType(std::string_view name);
std::string_view QuantDTypeName(QuantDType dtype);
// "auto" | "dynamic" | "weight_only".
StatusOr<Int8Mode> ParseInt8Mode(std::string_view name);

struct QuantizeOptions {
  // --- Affects behaviour ---
  QuantDType dtype = QuantDType::kInt8;
  // int8 only. Default kAuto.
  Int8Mode int8_mode = Int8Mode::kAuto;

  // --- Affects how long the pass takes ---
  // Timed runs per variant and batch size when choosing kernels (the fastest
  // counts). Default 15; more gives a steadier choice on a busy machine.
  int timing_runs = 15;

  // --- Affects behaviour: int8 convolutions (last, so {dtype, mode, runs} still initializes) ---
  // int8 only: inputs the model sees in use. When given, 2-D convolutions
  // (and the residual adds, ReLUs and max pools between them) run on int8
  // activations with ranges measured on this data, kept if they measure
  // faster at batch 1 than fp32 convolutions. Default none: convolutions
  // stay fp32 (their activation ranges would be guesses).
  CalibrationData calibration;
  // int8 with calibration only: keep the int8 convolutions without timing
  // them against fp32 ones. Default false (measure, keep the faster).
  bool force_int8_convolutions = false;
};

// Errors: FailedPrecondition for a model that is not TorchScript (a .pt2
// package is already compiled); InvalidArgument for bad options.
StatusOr<OptimizedModel> Quantize(const std::shared_ptr<Model>& model,
                                  const QuantizeOptions& options);

}  // namespace mlship
