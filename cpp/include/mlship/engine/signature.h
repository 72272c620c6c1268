// Signature: the named, typed, shaped inputs and outputs of a model.
//
// A dimension of -1 is dynamic (normally the batch dimension, dim 0). The
// signature is saved with the model (embedded in TorchScript files, beside
// .pt2 packages) so a server can check requests before running them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mlship/engine/dtype.h"
#include "mlship/engine/sequence_batching.h"
#include "mlship/status.h"

namespace mlship {

struct TensorSpec {
  std::string name;
  DType dtype = DType::kFloat32;
  // -1 marks a dynamic dimension.
  std::vector<int64_t> shape;

  // "x: FP32[-1, 64]"
  std::string ToString() const;
  bool operator==(const TensorSpec&) const = default;
};

// How a model's outputs are structured in Python.
enum class OutputKind {
  kTensor,  // one tensor
  kTuple,   // a tuple of tensors, in output order
  kList,    // a list of tensors, in output order
  kDict,    // a dict from output name to tensor
};

struct Signature {
  std::vector<TensorSpec> inputs;
  std::vector<TensorSpec> outputs;
  OutputKind output_kind = OutputKind::kTensor;
  // Padding requests of different lengths into one batch; off by default.
  SequenceBatching sequence;

  // True when every input's dimension 0 is dynamic, so requests can be
  // concatenated into batches.
  bool batchable() const;

  // JSON form: {"inputs": [{"name", "datatype", "shape"}], "outputs": [...],
  // "output_kind": "tensor"|"tuple"|"list"|"dict", and when sequence
  // batching is on "sequence": {"dim", "pad": {name: value}, "bucket",
  // "max_length"}}. FromJson checks the sequence block against the inputs.
  std::string ToJson() const;
  static StatusOr<Signature> FromJson(std::string_view json);

  bool operator==(const Signature&) const = default;
};

std::string_view OutputKindName(OutputKind kind);

// "[-1, 64]"
std::string ShapeToString(const std::vector<int64_t>& shape);

// Parses a tensor declared on a command line, NAME:DTYPE:DIMS, e.g.
// "x:FP32:-1,64" (DIMS comma-separated, -1 for a dynamic dimension, empty
// for a scalar). `flag` names the flag in messages ("--input").
// InvalidArgument naming the text and the form expected.
StatusOr<TensorSpec> ParseTensorSpec(std::string_view text, std::string_view flag);

}  // namespace mlship
