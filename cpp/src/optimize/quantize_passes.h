// The quantization passes behind Quantize(), and the embedding rewrite they share.
#pragma once

#include <torch/csrc/jit/ir/ir.h>

#include <optional>
#include <vector>

#include "graph_rewrite.h"
#include "mlship/optimize/quantize.h"

namespace mlship::optimize_internal {

StatusOr<OptimizedModel> QuantizeInt8(const std::shared_ptr<Model>& model, const QuantizeOptions& options);
StatusOr<OptimizedModel> QuantizeHalf(const std::shared_ptr<Model>& model, const QuantizeOptions& options);

// One `aten::embedding` whose table (2-D float) is a constant.
struct EmbeddingSite {
  torch::jit::Node* node = nullptr;
  at::Tensor weight;  // [rows, dim]
};

// The embedding lookups of `graph` with constant float tables, in graph order.
std::vector<EmbeddingSite> FindEmbeddings(torch::jit::Graph& graph);

// Replaces the lookup with one into an int8 table with one symmetric scale
// per row (scale = max|row| / 127), dequantized after the lookup: the table
// takes a quarter of the space, and each looked-up row is within scale / 2 of
// the original per element.
void QuantizeEmbeddingInt8(const EmbeddingSite& site);

// An `aten::embedding_bag` whose table (2-D float) is a constant, as a site;
// NotFound when it is not one, FailedPrecondition, saying why, when the int8
// rewrite cannot take it (a padding_idx; its other outputs are read).
StatusOr<EmbeddingSite> FindEmbeddingBag(torch::jit::Node* node);

// The bag's table to int8 as for QuantizeEmbeddingInt8: the rows of the
// bag are looked up and dequantized, then reduced as before.
void QuantizeEmbeddingBagInt8(const EmbeddingSite& site);

// One `aten::conv1d/2d/3d` whose weight (float) and bias (or None) are constants.
using ConvSite = LinearSite;

// The convolutions of `graph` with constant float weights, in graph order.
std::vector<ConvSite> FindConvolutions(torch::jit::Graph& graph);

// Stores the convolution's weights in `dtype` (fp16 or bf16). With
// compute_in_half the input is cast to `dtype`, convolved, and the output cast
// back to fp32; otherwise the weights are widened to fp32 for each call.
void ConvolutionToHalf(const ConvSite& site, at::ScalarType dtype, bool compute_in_half);

// One `aten::lstm` / `aten::gru` (padded-batch form) whose weights are constants.
struct RnnSite {
  torch::jit::Node* node = nullptr;
  std::vector<at::Tensor> params;  // the flat weights and biases, float
  // The `data` overload (a PackedSequence: data, batch_sizes, hx, params,
  // has_biases, num_layers, dropout, train, bidirectional) rather than `input`
  // (input, hx, params, has_biases, num_layers, dropout, train, bidirectional,
  // batch_first).
  bool packed = false;

  // Where hx and params are among the node's inputs.
  std::size_t HxIndex() const { return packed ? 2 : 1; }
  std::size_t ParamsIndex() const { return packed ? 3 : 2; }
};

// The LSTM and GRU layers of `graph` with constant float weights; packed
// ones (the `data` overload) only with `include_packed`.
std::vector<RnnSite> FindRecurrentLayers(torch::jit::Graph& graph, bool include_packed = false);

// Stores the layer's weights in `dtype`. With compute_in_half the input and
// initial states are cast to `dtype` and the outputs back to fp32; otherwise
// the weights are widened to fp32 for each call.
void RecurrentToHalf(const RnnSite& site, at::ScalarType dtype, bool compute_in_half);

// What ConvolutionsToStaticInt8 rewrote.
struct StaticInt8Summary {
  int convolutions = 0;
  int adds = 0;   // residual adds (with their ReLU when one follows)
  int pools = 0;  // max pools run on int8 activations
  int64_t calibration_rows = 0;
  std::string engine;  // torch's quantized engine the weights are packed for
  // "<module> <out>x<in>x<kh>x<kw>, ..." for the convolutions made int8 (the
  // module path from the graph's call stack; see ModulePath).
  std::string names;
  // "<convolution>: <why>; ..." for the 2-D convolutions with constant weights left in fp32.
  std::string left;
};

// Folds batch norms into convolutions, then runs chains of 2-D convolutions
// (with the ReLU after them), residual adds and max pools on uint8
// activations with torch's quantized kernels (packed for `engine`, e.g.
// "fbgemm" or "onednn"; see Int8ConvWeight): weights int8 with one
// symmetric scale per output channel, each activation's range (min, max,
// widened to hold 0) measured by running `calibration` through the model.
// Activations are quantized where a chain starts and dequantized where a
// float op reads them. Errors: InvalidArgument for calibration data that does
// not run; NotFound when there is no such convolution; FailedPrecondition
// when torch's int8 operators cannot run the model.
StatusOr<StaticInt8Summary> ConvolutionsToStaticInt8(FrozenCopy& copy, const CalibrationData& calibration,
                                                     const std::string& engine);

// How an LSTM/GRU site is laid out, read from its constant flags.
struct RecurrentLayout {
  bool lstm = true;  // else a GRU
  bool has_biases = true;
  int64_t layers = 1;
  int64_t directions = 1;
  bool batch_first = false;
  bool projections = false;  // an LSTM with proj_size: W_hr per layer and direction
  bool packed = false;       // runs on a PackedSequence (RnnSite::packed)
  // Weight tensors per layer and direction: w_ih, w_hh[, b_ih, b_hh][, w_hr].
  int64_t PerDirection() const { return (has_biases ? 4 : 2) + (projections ? 1 : 0); }
};

// The site's layout when the int8 rewrite can take it; FailedPrecondition,
// saying why, when it cannot (training mode, flags computed at run time, weights
// not laid out as torch's).
StatusOr<RecurrentLayout> Int8RecurrentLayout(const RnnSite& site);

// Replaces the layer with int8 weights (one symmetric scale per output row of
// W_ih and W_hh) run by mlship's recurrent kernel; `dynamic_from_rows` as for
// Int8LinearWeight.
void RecurrentToInt8(const RnnSite& site, const RecurrentLayout& layout, int64_t dynamic_from_rows);

}  // namespace mlship::optimize_internal
