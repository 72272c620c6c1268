#include "numpy_exchange.h"

#include <ATen/ATen.h>
#include <pybind11/numpy.h>

#include <cstring>

#include "dlpack.h"

namespace py = pybind11;

namespace mlship::bindings {
namespace {

// numpy's type number for each dtype served; nullopt for any other.
std::optional<at::ScalarType> ScalarTypeOf(const py::dtype& dtype) {
  // Byte-swapped data needs numpy's own conversion ('=' native, '|' not applicable).
  const char order = dtype.byteorder();
  constexpr bool little = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__;
  if (!(order == '=' || order == '|' || (order == '<' && little) || (order == '>' && !little))) return std::nullopt;
  switch (dtype.num()) {
    case py::detail::npy_api::NPY_BOOL_: return at::kBool;
    case py::detail::npy_api::NPY_BYTE_: return at::kChar;
    case py::detail::npy_api::NPY_UBYTE_: return at::kByte;
    case py::detail::npy_api::NPY_SHORT_: return at::kShort;
    case py::detail::npy_api::NPY_USHORT_: return at::kUInt16;
    case py::detail::npy_api::NPY_FLOAT_: return at::kFloat;
    case py::detail::npy_api::NPY_DOUBLE_: return at::kDouble;
    default: break;
  }
  // int/long/longlong type numbers differ between platforms: go by kind and size.
  const char kind = dtype.kind();
  const auto size = dtype.itemsize();
  if (kind == 'i' && size == 4) return at::kInt;
  if (kind == 'i' && size == 8) return at::kLong;
  if (kind == 'u' && size == 4) return at::kUInt32;
  if (kind == 'u' && size == 8) return at::kUInt64;
  if (kind == 'f' && size == 2) return at::kHalf;
  return std::nullopt;
}

std::optional<py::dtype> DtypeOf(at::ScalarType type) {
  switch (type) {
    case at::kBool: return py::dtype::of<bool>();
    case at::kChar: return py::dtype::of<int8_t>();
    case at::kByte: return py::dtype::of<uint8_t>();
    case at::kShort: return py::dtype::of<int16_t>();
    case at::kUInt16: return py::dtype::of<uint16_t>();
    case at::kInt: return py::dtype::of<int32_t>();
    case at::kUInt32: return py::dtype::of<uint32_t>();
    case at::kLong: return py::dtype::of<int64_t>();
    case at::kUInt64: return py::dtype::of<uint64_t>();
    case at::kHalf: return py::dtype("float16");
    case at::kFloat: return py::dtype::of<float>();
    case at::kDouble: return py::dtype::of<double>();
    default: return std::nullopt;
  }
}

void DeleteTensor(void* tensor) { delete static_cast<at::Tensor*>(tensor); }

}  // namespace

std::optional<std::vector<at::Tensor>> TensorsFromPlainArrays(const py::tuple& inputs, std::size_t expected_count,
                                                              ArrayMemory memory) {
  if (inputs.size() != expected_count) return std::nullopt;
  std::vector<at::Tensor> out;
  out.reserve(inputs.size());
  for (const py::handle item : inputs) {
    // Exactly ndarray: subclasses (masked arrays, matrices) may mean something else by their data.
    if (Py_TYPE(item.ptr()) != py::detail::npy_api::get().PyArray_Type_) return std::nullopt;
    auto array = py::reinterpret_borrow<py::array>(item);
    // A view must be writable: a model may write to its inputs in place.
    const int needed = py::array::c_style | py::detail::npy_api::NPY_ARRAY_ALIGNED_ |
                       (memory == ArrayMemory::kView ? py::detail::npy_api::NPY_ARRAY_WRITEABLE_ : 0);
    if ((array.flags() & needed) != needed) return std::nullopt;
    std::optional<at::ScalarType> type = ScalarTypeOf(array.dtype());
    if (!type) return std::nullopt;
    std::vector<int64_t> shape(array.shape(), array.shape() + array.ndim());
    const auto options = at::TensorOptions().dtype(*type);
    if (memory == ArrayMemory::kView) {
      out.push_back(at::from_blob(const_cast<void*>(array.data()), shape, options));
      continue;
    }
    at::Tensor tensor = at::empty(shape, options);
    if (array.nbytes() > 0) std::memcpy(tensor.data_ptr(), array.data(), static_cast<std::size_t>(array.nbytes()));
    out.push_back(std::move(tensor));
  }
  return out;
}

py::tuple NumpyArrays(const std::vector<at::Tensor>& outputs) {
  py::tuple result(outputs.size());
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    at::Tensor t = outputs[i].scalar_type() == at::kBFloat16 ? outputs[i].to(at::kFloat) : outputs[i];
    std::optional<py::dtype> dtype = DtypeOf(t.scalar_type());
    if (!dtype) {
      // Not a dtype mlship serves (a model whose output strayed from its
      // signature): numpy's own DLPack import decides, as on the general path.
      result[i] = py::module_::import("numpy").attr("from_dlpack")(ExportTensor(t));
      continue;
    }
    const auto itemsize = static_cast<py::ssize_t>(t.element_size());
    std::vector<py::ssize_t> shape(t.sizes().begin(), t.sizes().end());
    std::vector<py::ssize_t> strides;
    strides.reserve(shape.size());
    for (int64_t s : t.strides()) strides.push_back(static_cast<py::ssize_t>(s) * itemsize);
    void* data = t.data_ptr();
    py::capsule owner(new at::Tensor(std::move(t)), DeleteTensor);
    result[i] = py::array(*dtype, std::move(shape), std::move(strides), data, owner);
  }
  return result;
}

}  // namespace mlship::bindings
