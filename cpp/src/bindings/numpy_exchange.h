// The numpy fast path across the Python boundary.
//
// DLPack (dlpack.h) takes any array type, but each crossing costs several
// Python attribute lookups and calls made with the GIL held: __dlpack__,
// a capsule, a wrapper object, numpy.from_dlpack. For a one-row request that
// was most of the serial (GIL-held) time of Deployment.predict. Plain numpy
// arrays, the common case, cross here with pybind11's numpy support instead:
// a memcpy in, an array over the result tensor's memory out.
#pragma once

#include <ATen/core/Tensor.h>
#include <pybind11/pybind11.h>

#include <optional>
#include <vector>

namespace mlship::bindings {

// Each input as a tensor when every one is exactly a numpy.ndarray (no
// subclass), C-contiguous, aligned, in native byte order, of a dtype mlship
// serves (bool, int8..int64, uint8..uint64, float16/32/64). Returns nullopt
// otherwise, or when inputs.size() != expected_count, so the caller falls
// back to the general path (which also words the errors).
//
// kCopy copies into C++-owned memory (for requests that outlive the call:
// no worker thread may free memory a Python object owns). kView shares the
// arrays' memory: the caller keeps `inputs` alive while the tensors are used.
enum class ArrayMemory { kCopy, kView };
std::optional<std::vector<at::Tensor>> TensorsFromPlainArrays(const pybind11::tuple& inputs,
                                                              std::size_t expected_count, ArrayMemory memory);

// Each output as a numpy array sharing the tensor's memory (the array's base
// keeps the tensor alive). BF16, which numpy lacks, is widened to float32,
// as the DLPack path does.
pybind11::tuple NumpyArrays(const std::vector<at::Tensor>& outputs);

}  // namespace mlship::bindings
