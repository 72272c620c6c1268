// DLPack import/export. Ownership: an imported capsule is renamed
// "used_dltensor" and its deleter runs when the tensor dies; an exported
// capsule owns a reference to the tensor until a consumer takes it, or until
// the capsule is collected unconsumed.
#include "dlpack.h"

#include <ATen/DLConvertor.h>
#include <ATen/dlpack.h>

#include "errors.h"

namespace py = pybind11;

namespace mlship::bindings {
namespace {

constexpr const char* kCapsuleName = "dltensor";
constexpr const char* kUsedCapsuleName = "used_dltensor";

constexpr const char* kVersionedCapsuleName = "dltensor_versioned";

void DeleteUnconsumedCapsule(PyObject* capsule) {
  if (PyCapsule_IsValid(capsule, kCapsuleName)) {
    auto* managed = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(capsule, kCapsuleName));
    if (managed != nullptr && managed->deleter != nullptr) managed->deleter(managed);
  }
}

void DeleteUnconsumedVersionedCapsule(PyObject* capsule) {
  if (PyCapsule_IsValid(capsule, kVersionedCapsuleName)) {
    auto* managed = static_cast<DLManagedTensorVersioned*>(PyCapsule_GetPointer(capsule, kVersionedCapsuleName));
    if (managed != nullptr && managed->deleter != nullptr) managed->deleter(managed);
  }
}

// An exported tensor waiting for a consumer. Hand-written because pybind11
// has no DLPack producer; it is the protocol's minimum: __dlpack__ (which
// takes the keyword arguments of the 2023 standard and ignores them: CPU
// memory needs no stream) and __dlpack_device__.
class ExportedTensor {
 public:
  explicit ExportedTensor(at::Tensor tensor) : tensor_(std::move(tensor)) {}

  // A versioned (DLPack 1.x) capsule when the consumer can take one: it
  // carries flags, so numpy marks the array writable; else the legacy form.
  py::capsule Capsule(const py::kwargs& kwargs) {
    bool versioned = false;
    if (kwargs.contains("max_version") && !kwargs["max_version"].is_none()) {
      versioned = py::cast<int>(py::tuple(kwargs["max_version"])[0]) >= 1;
    }
    if (versioned) {
      DLManagedTensorVersioned* managed = at::toDLPackVersioned(tensor_);
      return py::reinterpret_steal<py::capsule>(
          PyCapsule_New(managed, kVersionedCapsuleName, DeleteUnconsumedVersionedCapsule));
    }
    DLManagedTensor* managed = at::toDLPack(tensor_);
    return py::reinterpret_steal<py::capsule>(PyCapsule_New(managed, kCapsuleName, DeleteUnconsumedCapsule));
  }

 private:
  at::Tensor tensor_;
};

}  // namespace

at::Tensor TensorFromPython(const py::handle& obj, const std::string& what) {
  if (!py::hasattr(obj, "__dlpack__")) {
    ThrowStatus(Status::InvalidArgument(what + ": expected a numpy array or torch tensor (anything with __dlpack__); got " +
                                        std::string(py::str(py::type::handle_of(obj).attr("__name__")))));
  }
  py::object capsule = obj.attr("__dlpack__")();
  if (!PyCapsule_IsValid(capsule.ptr(), kCapsuleName)) {
    ThrowStatus(Status::InvalidArgument(what + ": __dlpack__ did not return an unused DLPack capsule"));
  }
  auto* managed = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(capsule.ptr(), kCapsuleName));
  at::Tensor tensor;
  try {
    tensor = at::fromDLPack(managed);
  } catch (const c10::Error& e) {
    ThrowStatus(Status::InvalidArgument(what + ": " + e.what_without_backtrace()));
  }
  PyCapsule_SetName(capsule.ptr(), kUsedCapsuleName);
  return tensor;
}

py::object ExportTensor(const at::Tensor& tensor) { return py::cast(ExportedTensor(tensor)); }

py::tuple ExportTensors(const std::vector<at::Tensor>& tensors, const py::handle& convert) {
  py::tuple result(tensors.size());
  for (std::size_t i = 0; i < tensors.size(); ++i) result[i] = convert(ExportTensor(tensors[i]));
  return result;
}

void RegisterDLPack(py::module_& m) {
  py::class_<ExportedTensor>(m, "_ExportedTensor")
      .def(
          "__dlpack__", [](ExportedTensor& self, py::args, py::kwargs kwargs) { return self.Capsule(kwargs); },
          "A DLPack capsule for this tensor (CPU; stream arguments are ignored).")
      .def("__dlpack_device__", [](ExportedTensor&) { return py::make_tuple(1, 0); });  // (kDLCPU, 0)
}

}  // namespace mlship::bindings
