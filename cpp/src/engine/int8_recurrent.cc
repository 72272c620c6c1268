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

#include <vector>

namespace mlship {
namespace {

struct Extent {
  int64_t batch = 0;
  int64_t steps = 0;
  int64_t hidden = 0;  // the gates' (and the cell's) width
  int64_t state = 0;   // h's width: hidden, or an LSTM's projection size
  bool batch_first = true;
  // A packed sequence: the sequences running at each step (non-increasing:
  // sorted longest first) and where each step's rows start. Empty for a padded batch.
  std::vector<int64_t> active, offset;

  // The row of (sequence b, step t) in the input's layout.
  int64_t Row(int64_t b, int64_t t) const {
    if (!offset.empty()) return offset[t] + b;
    return batch_first ? b * steps + t : t * batch + b;
  }
  // How many sequences run at step t: the first Active(t) rows of the state.
  int64_t Active(int64_t t) const { return active.empty() ? batch : active[t]; }
};

void CheckWeights(const char* op, int64_t gates, const Extent& e, const Int8LinearWeight& w_ih,
                  const Int8LinearWeight& w_hh, const Int8LinearWeight* w_hr) {
  TORCH_CHECK(w_hh.out_features() == gates * e.hidden && w_ih.out_features() == gates * e.hidden, op,
              ": expected weights with ", gates, " x hidden output rows; got ", w_ih.out_features(), " and ",
              w_hh.out_features(), " for hidden ", e.hidden);
  TORCH_CHECK(w_hr == nullptr || w_hr->out_features() == e.state, op, ": expected a projection with ", e.state,
              " output rows (W_hh's input width); got ", w_hr == nullptr ? 0 : w_hr->out_features());
}

void CheckState(const char* op, const char* what, const at::Tensor& state, int64_t batch, int64_t width) {
  TORCH_CHECK(state.dim() == 2 && state.size(0) == batch && state.size(1) == width, op, ": expected ", what,
              " of shape [", batch, ", ", width, "]; got ", state.sizes());
}

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
  CheckWeights(op, gates, e, w_ih, w_hh, w_hr);
  TORCH_CHECK(input.size(2) == w_ih.in_features(), op, ": expected ", w_ih.in_features(),
              " input features; got shape ", input.sizes());
  CheckState(op, "an initial state", h0, e.batch, e.state);
  return e;
}

// A packed sequence (torch's PackedSequence: data [rows, features], the
// sequences running at each step in batch_sizes, longest first).
Extent CheckPackedShapes(const char* op, int64_t gates, const at::Tensor& data, const at::Tensor& batch_sizes,
                         const at::Tensor& h0, const Int8LinearWeight& w_ih, const Int8LinearWeight& w_hh) {
  TORCH_CHECK(data.dim() == 2 && data.size(1) == w_ih.in_features(), op, ": expected packed data of shape [rows, ",
              w_ih.in_features(), "]; got ", data.sizes());
  TORCH_CHECK(batch_sizes.dim() == 1 && batch_sizes.scalar_type() == at::kLong, op,
              ": expected batch_sizes, a 1-D int64 tensor; got ", batch_sizes.sizes(), " ", batch_sizes.scalar_type());
  Extent e;
  e.state = w_hh.in_features();
  e.hidden = e.state;
  e.steps = batch_sizes.size(0);
  const at::Tensor sizes = batch_sizes.cpu().contiguous();
  const int64_t* n = sizes.const_data_ptr<int64_t>();
  int64_t rows = 0;
  for (int64_t t = 0; t < e.steps; ++t) {
    TORCH_CHECK(n[t] > 0 && (t == 0 || n[t] <= n[t - 1]), op,
                ": expected batch_sizes positive and non-increasing (sequences sorted longest first); got ",
                batch_sizes);
    e.offset.push_back(rows);
    e.active.push_back(n[t]);
    rows += n[t];
  }
  TORCH_CHECK(rows == data.size(0), op, ": batch_sizes add up to ", rows, " rows; the packed data has ",
              data.size(0));
  e.batch = e.steps > 0 ? n[0] : h0.size(0);
  CheckWeights(op, gates, e, w_ih, w_hh, nullptr);
  CheckState(op, "an initial state", h0, e.batch, e.state);
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
  std::vector<int64_t> shape = input.sizes().vec();
  shape.back() = e.state;
  return {w_ih.Forward(input.to(at::kFloat).contiguous()).contiguous(),
          at::empty(shape, input.options().dtype(at::kFloat)), OwnedFloat(h0)};
}

// The LSTM recurrence over `e`'s steps; `c0` already checked.
std::tuple<at::Tensor, at::Tensor, at::Tensor> RunLstm(const Extent& e, const at::Tensor& input, const at::Tensor& h0,
                                                        const at::Tensor& c0, const Int8LinearWeight& w_ih,
                                                        const Int8LinearWeight& w_hh, bool reverse,
                                                        const Int8LinearWeight* w_hr) {
  const int64_t H = e.hidden;
  const int64_t P = e.state;
  auto [gx, out, h] = Begin(input, h0, w_ih, e);
  at::Tensor c = OwnedFloat(c0);
  at::Tensor cell_all = at::empty({e.batch, H}, h.options());
  const float* gx_data = gx.const_data_ptr<float>();
  float* out_data = out.mutable_data_ptr<float>();
  float* h_data = h.mutable_data_ptr<float>();
  float* c_data = c.mutable_data_ptr<float>();
  float* cell_data = cell_all.mutable_data_ptr<float>();
  for (int64_t s = 0; s < e.steps; ++s) {
    const int64_t t = reverse ? e.steps - 1 - s : s;
    // The sequences running now are the state's first `rows` rows (a packed
    // sequence's shorter ones have ended and keep their final h and c).
    const int64_t rows = e.Active(t);
    at::Tensor gates = w_hh.Forward(h.narrow(0, 0, rows));  // [rows, 4H], with b_hh; reads h before it is overwritten
    float* g_data = gates.mutable_data_ptr<float>();
    for (int64_t b = 0; b < rows; ++b) {
      const float* from_input = gx_data + e.Row(b, t) * 4 * H;
      float* row = g_data + b * 4 * H;
      for (int64_t j = 0; j < 4 * H; ++j) row[j] += from_input[j];
      for (int64_t j = 2 * H; j < 3 * H; ++j) row[j] *= 2;  // g: tanh through the sigmoid below
    }
    at::sigmoid_(gates);
    for (int64_t b = 0; b < rows; ++b) {
      const float* row = g_data + b * 4 * H;
      for (int64_t j = 0; j < H; ++j) {
        const float next = row[H + j] * c_data[b * H + j] + row[j] * (2 * row[2 * H + j] - 1);
        c_data[b * H + j] = next;
        cell_data[b * H + j] = 2 * next;
      }
    }
    at::Tensor cell = cell_all.narrow(0, 0, rows);
    at::sigmoid_(cell);
    // o * tanh(c), into `cell` (read no more this step); with a projection, h = W_hr of that.
    for (int64_t b = 0; b < rows; ++b) {
      const float* row = g_data + b * 4 * H;
      for (int64_t j = 0; j < H; ++j) cell_data[b * H + j] = row[3 * H + j] * (2 * cell_data[b * H + j] - 1);
    }
    const at::Tensor projected = w_hr != nullptr ? w_hr->Forward(cell) : cell;
    const float* h_next = projected.const_data_ptr<float>();
    for (int64_t b = 0; b < rows; ++b) {
      float* out_row = out_data + e.Row(b, t) * P;
      for (int64_t j = 0; j < P; ++j) {
        h_data[b * P + j] = h_next[b * P + j];
        out_row[j] = h_next[b * P + j];
      }
    }
  }
  return {out, h, c};
}

// The GRU recurrence over `e`'s steps.
std::tuple<at::Tensor, at::Tensor> RunGru(const Extent& e, const at::Tensor& input, const at::Tensor& h0,
                                          const Int8LinearWeight& w_ih, const Int8LinearWeight& w_hh, bool reverse) {
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
    const int64_t rows = e.Active(t);
    const at::Tensor from_state = w_hh.Forward(h.narrow(0, 0, rows));  // [rows, 3H], with b_hh
    const float* gh_data = from_state.const_data_ptr<float>();
    for (int64_t b = 0; b < rows; ++b) {
      const float* gx_row = gx_data + e.Row(b, t) * 3 * H;
      const float* gh_row = gh_data + b * 3 * H;
      for (int64_t j = 0; j < 2 * H; ++j) rz_data[b * 2 * H + j] = gx_row[j] + gh_row[j];
    }
    reset_update.narrow(0, 0, rows).sigmoid_();
    for (int64_t b = 0; b < rows; ++b) {
      const float* gx_row = gx_data + e.Row(b, t) * 3 * H;
      const float* gh_row = gh_data + b * 3 * H;
      const float* r = rz_data + b * 2 * H;
      for (int64_t j = 0; j < H; ++j) n_data[b * H + j] = 2 * (gx_row[2 * H + j] + r[j] * gh_row[2 * H + j]);
    }
    candidate.narrow(0, 0, rows).sigmoid_();  // n = 2 sigmoid(2x) - 1 = tanh(x)
    for (int64_t b = 0; b < rows; ++b) {
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

}  // namespace

std::tuple<at::Tensor, at::Tensor, at::Tensor> LstmInt8Layer(const at::Tensor& input, const at::Tensor& h0,
                                                              const at::Tensor& c0, const Int8LinearWeight& w_ih,
                                                              const Int8LinearWeight& w_hh, bool batch_first,
                                                              bool reverse, const Int8LinearWeight* w_hr) {
  const Extent e = CheckShapes("lstm_int8", 4, input, h0, w_ih, w_hh, batch_first, w_hr);
  CheckState("lstm_int8", "a cell state", c0, e.batch, e.hidden);
  return RunLstm(e, input, h0, c0, w_ih, w_hh, reverse, w_hr);
}

std::tuple<at::Tensor, at::Tensor> GruInt8Layer(const at::Tensor& input, const at::Tensor& h0,
                                                const Int8LinearWeight& w_ih, const Int8LinearWeight& w_hh,
                                                bool batch_first, bool reverse) {
  const Extent e = CheckShapes("gru_int8", 3, input, h0, w_ih, w_hh, batch_first);
  return RunGru(e, input, h0, w_ih, w_hh, reverse);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> LstmInt8PackedLayer(const at::Tensor& data,
                                                                    const at::Tensor& batch_sizes,
                                                                    const at::Tensor& h0, const at::Tensor& c0,
                                                                    const Int8LinearWeight& w_ih,
                                                                    const Int8LinearWeight& w_hh, bool reverse) {
  const Extent e = CheckPackedShapes("lstm_packed_int8", 4, data, batch_sizes, h0, w_ih, w_hh);
  CheckState("lstm_packed_int8", "a cell state", c0, e.batch, e.hidden);
  return RunLstm(e, data, h0, c0, w_ih, w_hh, reverse, nullptr);
}

std::tuple<at::Tensor, at::Tensor> GruInt8PackedLayer(const at::Tensor& data, const at::Tensor& batch_sizes,
                                                      const at::Tensor& h0, const Int8LinearWeight& w_ih,
                                                      const Int8LinearWeight& w_hh, bool reverse) {
  const Extent e = CheckPackedShapes("gru_packed_int8", 3, data, batch_sizes, h0, w_ih, w_hh);
  return RunGru(e, data, h0, w_ih, w_hh, reverse);
}

}  // namespace mlship
