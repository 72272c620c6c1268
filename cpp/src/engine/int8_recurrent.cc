// LSTM and GRU layers with int8 weights (see int8_recurrent.h for why).
//
// Each step needs sigmoids and tanhs of a few thousand numbers. Calling
// at::sigmoid_ on a whole gate block uses torch's vectorized kernel (a plain
// std::exp loop cost as much as the fp32 layer); tanh comes from the same
// call through tanh(x) = 2 sigmoid(2x) - 1, so one call per block covers all
// of a step's gates.
#include "mlship/engine/int8_recurrent.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

namespace mlship {
namespace {

struct Extent {
  int64_t batch = 0;
  int64_t steps = 0;
  int64_t hidden = 0;  // the gates' (and the cell's) width
  int64_t state = 0;   // h's width: hidden, or an LSTM's projection size
  bool batch_first = true;

  // The row of (batch b, step t) in the input's layout.
  int64_t Row(int64_t b, int64_t t) const { return batch_first ? b * steps + t : t * batch + b; }
};

// `w_hr`: an LSTM's projection (proj_size), or null.
Extent CheckShapes(const char* op, int64_t gates, const at::Tensor& input, const at::Tensor& h0,
                   const Int8LinearWeight& w_ih, const Int8LinearWeight& w_hh, bool batch_first,
                   const Int8LinearWeight* w_hr = nullptr) {
  TORCH_CHECK(input.dim() == 3, op, ": expected a 3-D input (", batch_first ? "[batch, steps, features]" : "[steps, batch, features]",
              "); got shape ", input.sizes());
  Extent e;
  e.state = w_hh.in_features();
  e.hidden = w_hr != nullptr ? w_hr->in_features() : e.state;
  e.batch_first = batch_first;
  e.batch = input.size(batch_first ? 0 : 1);
  e.steps = input.size(batch_first ? 1 : 0);
  TORCH_CHECK(w_hh.out_features() == gates * e.hidden && w_ih.out_features() == gates * e.hidden, op,
              ": expected weights with ", gates, " x hidden output rows; got ", w_ih.out_features(), " and ",
              w_hh.out_features(), " for hidden ", e.hidden);
  TORCH_CHECK(w_hr == nullptr || w_hr->out_features() == e.state, op, ": expected a projection with ", e.state,
              " output rows (W_hh's input width); got ", w_hr == nullptr ? 0 : w_hr->out_features());
  TORCH_CHECK(input.size(2) == w_ih.in_features(), op, ": expected ", w_ih.in_features(),
              " input features; got shape ", input.sizes());
  TORCH_CHECK(h0.dim() == 2 && h0.size(0) == e.batch && h0.size(1) == e.state, op,
              ": expected an initial state of shape [", e.batch, ", ", e.state, "]; got ", h0.sizes());
  return e;
}

at::Tensor OwnedFloat(const at::Tensor& t) { return t.to(at::kFloat).contiguous().clone(); }

// What both recurrences start from: the input's part of every step's gates
// in one product ([rows, gates x hidden]), the output to fill, and a copy of
// the initial state to update in place.
struct Start {
  at::Tensor gx, out, h;
};

Start Begin(const at::Tensor& input, const at::Tensor& h0, const Int8LinearWeight& w_ih, const Extent& e) {
  return {w_ih.Forward(input.to(at::kFloat).contiguous()).contiguous(),
          at::empty({input.size(0), input.size(1), e.state}, input.options().dtype(at::kFloat)), OwnedFloat(h0)};
}

}  // namespace

std::tuple<at::Tensor, at::Tensor, at::Tensor> LstmInt8Layer(const at::Tensor& input, const at::Tensor& h0,
                                                              const at::Tensor& c0, const Int8LinearWeight& w_ih,
                                                              const Int8LinearWeight& w_hh, bool batch_first,
                                                              bool reverse, const Int8LinearWeight* w_hr) {
  const Extent e = CheckShapes("lstm_int8", 4, input, h0, w_ih, w_hh, batch_first, w_hr);
  TORCH_CHECK(c0.dim() == 2 && c0.size(0) == e.batch && c0.size(1) == e.hidden,
              "lstm_int8: expected a cell state of shape [", e.batch, ", ", e.hidden, "]; got ", c0.sizes());
  const int64_t H = e.hidden;
  const int64_t P = e.state;
  auto [gx, out, h] = Begin(input, h0, w_ih, e);
  at::Tensor c = OwnedFloat(c0);
  at::Tensor cell = at::empty({e.batch, H}, h.options());
  const float* gx_data = gx.const_data_ptr<float>();
  float* out_data = out.mutable_data_ptr<float>();
  float* h_data = h.mutable_data_ptr<float>();
  float* c_data = c.mutable_data_ptr<float>();
  float* cell_data = cell.mutable_data_ptr<float>();
  for (int64_t s = 0; s < e.steps; ++s) {
    const int64_t t = reverse ? e.steps - 1 - s : s;
    at::Tensor gates = w_hh.Forward(h);  // [batch, 4H], with b_hh; reads h before it is overwritten
    float* g_data = gates.mutable_data_ptr<float>();
    for (int64_t b = 0; b < e.batch; ++b) {
      const float* from_input = gx_data + e.Row(b, t) * 4 * H;
      float* row = g_data + b * 4 * H;
      for (int64_t j = 0; j < 4 * H; ++j) row[j] += from_input[j];
      for (int64_t j = 2 * H; j < 3 * H; ++j) row[j] *= 2;  // g: tanh through the sigmoid below
    }
    at::sigmoid_(gates);
    for (int64_t b = 0; b < e.batch; ++b) {
      const float* row = g_data + b * 4 * H;
      for (int64_t j = 0; j < H; ++j) {
        const float next = row[H + j] * c_data[b * H + j] + row[j] * (2 * row[2 * H + j] - 1);
        c_data[b * H + j] = next;
        cell_data[b * H + j] = 2 * next;
      }
    }
    at::sigmoid_(cell);
    // o * tanh(c), into `cell` (read no more this step); with a projection, h = W_hr of that.
    for (int64_t b = 0; b < e.batch; ++b) {
      const float* row = g_data + b * 4 * H;
      for (int64_t j = 0; j < H; ++j) cell_data[b * H + j] = row[3 * H + j] * (2 * cell_data[b * H + j] - 1);
    }
    const at::Tensor projected = w_hr != nullptr ? w_hr->Forward(cell) : cell;
    const float* h_next = projected.const_data_ptr<float>();
    for (int64_t b = 0; b < e.batch; ++b) {
      float* out_row = out_data + e.Row(b, t) * P;
      for (int64_t j = 0; j < P; ++j) {
        h_data[b * P + j] = h_next[b * P + j];
        out_row[j] = h_next[b * P + j];
      }
    }
  }
  return {out, h, c};
}

std::tuple<at::Tensor, at::Tensor> GruInt8Layer(const at::Tensor& input, const at::Tensor& h0,
                                                const Int8LinearWeight& w_ih, const Int8LinearWeight& w_hh,
                                                bool batch_first, bool reverse) {
  const Extent e = CheckShapes("gru_int8", 3, input, h0, w_ih, w_hh, batch_first);
  const int64_t H = e.hidden;
  auto [gx, out, h] = Begin(input, h0, w_ih, e);
  at::Tensor reset_update = at::empty({e.batch, 2 * H}, h.options());
  at::Tensor candidate = at::empty({e.batch, H}, h.options());
  const float* gx_data = gx.const_data_ptr<float>();
  float* out_data = out.mutable_data_ptr<float>();
  float* h_data = h.mutable_data_ptr<float>();
  float* rz_data = reset_update.mutable_data_ptr<float>();
  float* n_data = candidate.mutable_data_ptr<float>();
  for (int64_t s = 0; s < e.steps; ++s) {
    const int64_t t = reverse ? e.steps - 1 - s : s;
    const at::Tensor from_state = w_hh.Forward(h);  // [batch, 3H], with b_hh
    const float* gh_data = from_state.const_data_ptr<float>();
    for (int64_t b = 0; b < e.batch; ++b) {
      const float* gx_row = gx_data + e.Row(b, t) * 3 * H;
      const float* gh_row = gh_data + b * 3 * H;
      for (int64_t j = 0; j < 2 * H; ++j) rz_data[b * 2 * H + j] = gx_row[j] + gh_row[j];
    }
    at::sigmoid_(reset_update);
    for (int64_t b = 0; b < e.batch; ++b) {
      const float* gx_row = gx_data + e.Row(b, t) * 3 * H;
      const float* gh_row = gh_data + b * 3 * H;
      const float* r = rz_data + b * 2 * H;
      for (int64_t j = 0; j < H; ++j) n_data[b * H + j] = 2 * (gx_row[2 * H + j] + r[j] * gh_row[2 * H + j]);
    }
    at::sigmoid_(candidate);  // n = 2 sigmoid(2x) - 1 = tanh(x)
    for (int64_t b = 0; b < e.batch; ++b) {
      const float* z = rz_data + b * 2 * H + H;
      float* out_row = out_data + e.Row(b, t) * H;
      for (int64_t j = 0; j < H; ++j) {
        const float n = 2 * n_data[b * H + j] - 1;
        const float value = (1 - z[j]) * n + z[j] * h_data[b * H + j];
        h_data[b * H + j] = value;
        out_row[j] = value;
      }
    }
  }
  return {out, h};
}

}  // namespace mlship
