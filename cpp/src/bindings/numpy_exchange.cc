#include "numpy_exchange.h"

#include <ATen/ATen.h>
#include <pybind11/numpy.h>

#include <cstring>

#include "dlpack.h"

namespace py = pybind11;

namespace mlship::bindings {
namespace {

// The dtypes mlship serves, by numpy kind ('b' bool, 'i'/'u' signed and
// unsigned integers, 'f' floats) and item size: numpy's type numbers for
// int/long differ between platforms, kind and size do not.
struct ServedDtype {
  at::ScalarType type;
  char kind;
  py::ssize_t itemsize;
  py::dtype (*numpy)();
};

const ServedDtype kServed[] = {
    {at::kBool, 'b', 1, [] { return py::dtype::of<bool>(); }},
    {at::kChar, 'i', 1, [] { return py::dtype::of<int8_t>(); }},
    {at::kShort, 'i', 2, [] { return py::dtype::of<int16_t>(); }},
    {at::kInt, 'i', 4, [] { return py::dtype::of<int32_t>(); }},
    {at::kLong, 'i', 8, [] { return py::dtype::of<int64_t>(); }},
    {at::kByte, 'u', 1, [] { return py::dtype::of<uint8_t>(); }},
    {at::kUInt16, 'u', 2, [] { return py::dtype::of<uint16_t>(); }},
    {at::kUInt32, 'u', 4, [] { return py::dtype::of<uint32_t>(); }},
    {at::kUInt64, 'u', 8, [] { return py::dtype::of<uint64_t>(); }},
    {at::kHalf, 'f', 2, [] { return py::dtype("float16"); }},
    {at::kFloat, 'f', 4, [] { return py::dtype::of<float>(); }},
    {at::kDouble, 'f', 8, [] { return py::dtype::of<double>(); }},
};

// The tensor dtype for a numpy dtype mlship serves; nullopt for any other.
std::optional<at::ScalarType> ScalarTypeOf(const py::dtype& dtype) {
  // Byte-swapped data needs numpy's own conversion ('=' native, '|' not applicable).
  const char order = dtype.byteorder();
  constexpr bool little = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__;
  if (!(order == '=' || order == '|' || (order == '<' && little) || (order == '>' && !little))) return std::nullopt;
  const char kind = dtype.kind();
  const py::ssize_t itemsize = dtype.itemsize();
  for (const ServedDtype& served : kServed) {
    if (served.kind == kind && served.itemsize == itemsize) return served.type;
  }
  return std::nullopt;
}

// The numpy dtype for a tensor dtype mlship serves; nullopt for any other.
std::optional<py::dtype> DtypeOf(at::ScalarType type) {
  for (const ServedDtype& served : kServed) {
    if (served.type == type) return served.numpy();
  }
  return std::nullopt;
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
