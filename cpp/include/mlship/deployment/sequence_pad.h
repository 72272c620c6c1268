// Sequence batching in the deployment layer: the length and batch key of a
// request, padding a batch's inputs to its longest request, and cutting
// each request's outputs back (see engine/sequence_batching.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "mlship/engine/signature.h"
#include "mlship/status.h"

namespace mlship {

// The request's length along sig.sequence.dim: every input must have the
// same one (InvalidArgument naming the inputs and lengths otherwise).
StatusOr<int64_t> SequenceLength(const Signature& sig, const std::vector<at::Tensor>& inputs);

// The batch key of a request of `length`: BatchKeyFor's, with the sequence
// dimension replaced by the length's bucket, so requests of lengths in one
// bucket share batches.
std::string SequenceBatchKey(const Signature& sig, const std::vector<at::Tensor>& inputs, int64_t length);

// The batch key of a request under sequence batching: its bucket's key, or
// empty when it is longer than max_length and must run alone; an error when
// its inputs disagree on the length (SequenceLength).
StatusOr<std::string> SequenceKeyOrAlone(const Signature& sig, const std::vector<at::Tensor>& inputs);

// `inputs` padded at the end of the sequence dimension to `length` with
// each input's pad value; inputs already that long are returned as they are.
std::vector<at::Tensor> PadToLength(const Signature& sig, const std::vector<at::Tensor>& inputs, int64_t length);

// Whether output `index` is cut back to each request's length: its declared
// sequence dimension is dynamic and its size there is the padded length.
bool CutsBack(const Signature& sig, std::size_t index, const at::Tensor& output, int64_t padded_length);

}  // namespace mlship
