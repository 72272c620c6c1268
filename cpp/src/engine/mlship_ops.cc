// Registers mlship's TorchScript operators and the Int8LinearWeight / Int8ConvWeight classes
// (see mlship_ops.h). Loaded models find them by name in torch's registry.
#include "mlship/engine/mlship_ops.h"

#include <ATen/ATen.h>
#include <torch/library.h>

#include "mlship/engine/int8_conv.h"
#include "mlship/engine/int8_linear.h"
#include "mlship/engine/int8_recurrent.h"

namespace mlship {
namespace {

at::Tensor LinearInt8(const at::Tensor& x, const c10::intrusive_ptr<Int8LinearWeight>& weight) {
  return weight->Forward(x);
}

at::Tensor LinearReluInt8(const at::Tensor& x, const c10::intrusive_ptr<Int8LinearWeight>& weight) {
  return weight->Forward(x, /*relu=*/true);
}

// Half-precision weights: either the whole product runs in the weights' dtype
// (fast where the CPU has bf16/fp16 instructions) or the weights are widened
// to the input's dtype for each call.
at::Tensor LinearHalf(const at::Tensor& x, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                      bool compute_in_half) {
  if (compute_in_half) {
    return at::linear(x.to(weight.scalar_type()), weight, bias).to(x.scalar_type());
  }
  std::optional<at::Tensor> wide_bias;
  if (bias) wide_bias = bias->to(x.scalar_type());
  return at::linear(x, weight.to(x.scalar_type()), wide_bias);
}

using WeightPtr = c10::intrusive_ptr<Int8LinearWeight>;

at::Tensor Conv2dInt8(const at::Tensor& qx, const c10::intrusive_ptr<Int8ConvWeight>& weight, double scale,
                      int64_t zero_point, bool relu) {
  return weight->Forward(qx, scale, zero_point, relu);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> LstmInt8(const at::Tensor& input, const at::Tensor& h0,
                                                         const at::Tensor& c0, const WeightPtr& w_ih,
                                                         const WeightPtr& w_hh, bool batch_first, bool reverse) {
  return LstmInt8Layer(input, h0, c0, *w_ih, *w_hh, batch_first, reverse);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> LstmProjInt8(const at::Tensor& input, const at::Tensor& h0,
                                                             const at::Tensor& c0, const WeightPtr& w_ih,
                                                             const WeightPtr& w_hh, const WeightPtr& w_hr,
                                                             bool batch_first, bool reverse) {
  return LstmInt8Layer(input, h0, c0, *w_ih, *w_hh, batch_first, reverse, w_hr.get());
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> LstmPackedInt8(const at::Tensor& data, const at::Tensor& batch_sizes,
                                                               const at::Tensor& h0, const at::Tensor& c0,
                                                               const WeightPtr& w_ih, const WeightPtr& w_hh,
                                                               bool reverse) {
  return LstmInt8PackedLayer(data, batch_sizes, h0, c0, *w_ih, *w_hh, reverse);
}

std::tuple<at::Tensor, at::Tensor> GruPackedInt8(const at::Tensor& data, const at::Tensor& batch_sizes,
                                                 const at::Tensor& h0, const WeightPtr& w_ih, const WeightPtr& w_hh,
                                                 bool reverse) {
  return GruInt8PackedLayer(data, batch_sizes, h0, *w_ih, *w_hh, reverse);
}

std::tuple<at::Tensor, at::Tensor> GruInt8(const at::Tensor& input, const at::Tensor& h0, const WeightPtr& w_ih,
                                           const WeightPtr& w_hh, bool batch_first, bool reverse) {
  return GruInt8Layer(input, h0, *w_ih, *w_hh, batch_first, reverse);
}

}  // namespace

void EnsureMlshipOpsRegistered() {}

}  // namespace mlship

TORCH_LIBRARY(mlship, m) {
  m.class_<mlship::Int8LinearWeight>("Int8LinearWeight")
      .def("dynamic_from_rows", &mlship::Int8LinearWeight::dynamic_from_rows)
      .def("has_dynamic_kernel", &mlship::Int8LinearWeight::has_dynamic_kernel)
      .def_pickle(
          [](const c10::intrusive_ptr<mlship::Int8LinearWeight>& self) { return self->GetState(); },
          [](mlship::Int8LinearWeight::State state) { return mlship::Int8LinearWeight::FromState(std::move(state)); });
  m.class_<mlship::Int8ConvWeight>("Int8ConvWeight")
      .def("packed_engine", &mlship::Int8ConvWeight::packed_engine)
      .def_pickle([](const c10::intrusive_ptr<mlship::Int8ConvWeight>& self) { return self->GetState(); },
                  [](mlship::Int8ConvWeight::State state) { return mlship::Int8ConvWeight::FromState(std::move(state)); });
  m.def("conv2d_int8(Tensor qx, __torch__.torch.classes.mlship.Int8ConvWeight weight, float scale, int zero_point, "
        "bool relu) -> Tensor",
        &mlship::Conv2dInt8);
  m.def("linear_int8(Tensor x, __torch__.torch.classes.mlship.Int8LinearWeight weight) -> Tensor",
        &mlship::LinearInt8);
  m.def("linear_relu_int8(Tensor x, __torch__.torch.classes.mlship.Int8LinearWeight weight) -> Tensor",
        &mlship::LinearReluInt8);
  m.def("lstm_int8(Tensor input, Tensor h0, Tensor c0, __torch__.torch.classes.mlship.Int8LinearWeight w_ih, "
        "__torch__.torch.classes.mlship.Int8LinearWeight w_hh, bool batch_first, bool reverse) -> (Tensor, Tensor, Tensor)",
        &mlship::LstmInt8);
  m.def("lstm_proj_int8(Tensor input, Tensor h0, Tensor c0, __torch__.torch.classes.mlship.Int8LinearWeight w_ih, "
        "__torch__.torch.classes.mlship.Int8LinearWeight w_hh, __torch__.torch.classes.mlship.Int8LinearWeight w_hr, "
        "bool batch_first, bool reverse) -> (Tensor, Tensor, Tensor)",
        &mlship::LstmProjInt8);
  m.def("lstm_packed_int8(Tensor data, Tensor batch_sizes, Tensor h0, Tensor c0, "
        "__torch__.torch.classes.mlship.Int8LinearWeight w_ih, __torch__.torch.classes.mlship.Int8LinearWeight w_hh, "
        "bool reverse) -> (Tensor, Tensor, Tensor)",
        &mlship::LstmPackedInt8);
  m.def("gru_packed_int8(Tensor data, Tensor batch_sizes, Tensor h0, "
        "__torch__.torch.classes.mlship.Int8LinearWeight w_ih, __torch__.torch.classes.mlship.Int8LinearWeight w_hh, "
        "bool reverse) -> (Tensor, Tensor)",
        &mlship::GruPackedInt8);
  m.def("gru_int8(Tensor input, Tensor h0, __torch__.torch.classes.mlship.Int8LinearWeight w_ih, "
        "__torch__.torch.classes.mlship.Int8LinearWeight w_hh, bool batch_first, bool reverse) -> (Tensor, Tensor)",
        &mlship::GruInt8);
  m.def("linear_half(Tensor x, Tensor weight, Tensor? bias, bool compute_in_half) -> Tensor", &mlship::LinearHalf);
}
