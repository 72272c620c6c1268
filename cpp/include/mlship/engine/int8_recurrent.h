// One layer, one direction of an LSTM or a GRU with int8 weights.
//
// mlship's int8 pass replaces `aten::lstm` / `aten::gru` with a chain of
// `mlship::lstm_int8` / `mlship::gru_int8` calls, one per layer and direction
// (`mlship::lstm_proj_int8` for an LSTM with projections). The weights are
// Int8LinearWeight (input-to-hidden with b_ih, hidden-to-hidden with b_hh,
// and the projection W_hr), so the file holds a quarter of the fp32 bytes
// and loads on any torch build once mlship's ops are registered.
//
// Why hand-written: torch has no int8 recurrent kernel outside the deprecated
// quantized-tensor API, and a recurrence written as TorchScript ops pays the
// interpreter's per-op cost at every time step. Here the input projection of
// all steps is one int8 product, and each step is one weight-only int8
// product of the state plus the gate arithmetic, all in C++.
//
// Gate order and formulas are torch's (nn.LSTM: i, f, g, o; nn.GRU: r, z, n
// with n = tanh(W_in x + b_in + r * (W_hn h + b_hn))).
//
// Thread-safety: pure functions of their arguments.
#pragma once

#include <ATen/core/Tensor.h>

#include <tuple>

#include "mlship/engine/int8_linear.h"

namespace mlship {

// input: [batch, steps, features] when batch_first, else [steps, batch,
// features]; h0, c0: [batch, hidden]. `reverse` runs the steps last to first
// (the backward direction of a bidirectional layer). Returns (output in
// input's layout with `hidden` features, h_n [batch, hidden], c_n).
// With `w_hr` (nn.LSTM's proj_size: W_hr [proj, hidden], no bias), each
// step's h is W_hr (o * tanh(c)): h0, h_n and the output are [.., proj] wide
// and W_hh reads proj features, as in torch.
std::tuple<at::Tensor, at::Tensor, at::Tensor> LstmInt8Layer(const at::Tensor& input, const at::Tensor& h0,
                                                              const at::Tensor& c0, const Int8LinearWeight& w_ih,
                                                              const Int8LinearWeight& w_hh, bool batch_first,
                                                              bool reverse, const Int8LinearWeight* w_hr = nullptr);

// As LstmInt8Layer, for a GRU (no cell state): returns (output, h_n).
std::tuple<at::Tensor, at::Tensor> GruInt8Layer(const at::Tensor& input, const at::Tensor& h0,
                                                const Int8LinearWeight& w_ih, const Int8LinearWeight& w_hh,
                                                bool batch_first, bool reverse);

// As LstmInt8Layer / GruInt8Layer for a packed sequence (torch's
// PackedSequence, what nn.LSTM receives after pack_padded_sequence): `data`
// [rows, features] holds step 0 of every sequence, then step 1 of those still
// running, and so on; `batch_sizes` [steps] (int64) says how many run at
// each step, longest sequence first. h0 and c0 are [batch, hidden] with batch =
// batch_sizes[0]. The output is packed like `data`; h_n and c_n hold each
// sequence's state after its own last step (its first step, reversed).
std::tuple<at::Tensor, at::Tensor, at::Tensor> LstmInt8PackedLayer(const at::Tensor& data,
                                                                    const at::Tensor& batch_sizes,
                                                                    const at::Tensor& h0, const at::Tensor& c0,
                                                                    const Int8LinearWeight& w_ih,
                                                                    const Int8LinearWeight& w_hh, bool reverse);
std::tuple<at::Tensor, at::Tensor> GruInt8PackedLayer(const at::Tensor& data, const at::Tensor& batch_sizes,
                                                      const at::Tensor& h0, const Int8LinearWeight& w_ih,
                                                      const Int8LinearWeight& w_hh, bool reverse);

}  // namespace mlship
