// Tensors across the Python boundary as DLPack capsules (no libtorch_python).
#pragma once

#include <ATen/core/Tensor.h>
#include <pybind11/pybind11.h>

#include <string>
#include <vector>

namespace mlship::bindings {

// Imports any object with __dlpack__ (numpy arrays, torch tensors, ...) as a
// tensor that shares its memory. Throws InvalidInputError (via ThrowStatus)
// for objects that do not speak DLPack.
at::Tensor TensorFromPython(const pybind11::handle& obj, const std::string& what);

// Exports a tensor as an object with __dlpack__/__dlpack_device__, which
// numpy.from_dlpack and torch.from_dlpack accept without copying.
pybind11::object ExportTensor(const at::Tensor& tensor);

// Each of `tensors` exported and passed through `convert` (numpy.from_dlpack
// or torch.from_dlpack), as a tuple: the flat outputs of a run.
pybind11::tuple ExportTensors(const std::vector<at::Tensor>& tensors, const pybind11::handle& convert);

void RegisterDLPack(pybind11::module_& m);

}  // namespace mlship::bindings
