// Concatenate, run, split.
#include "mlship/deployment/batch_execution.h"

#include <ATen/ATen.h>

#include <algorithm>

#include "mlship/deployment/sequence_pad.h"

namespace mlship {

Status RunTask(const Model& model, TensorTask& task, int intra_op_threads) {
  auto outputs = model.RunUnchecked(task.inputs(), intra_op_threads);
  if (!outputs.ok()) return outputs.status();
  task.Succeed(std::move(outputs).value());
  return Status::Ok();
}

Status RunBatch(const Model& model, Batch<TensorTask>& batch, int intra_op_threads) {
  const int num_tasks = batch.num_tasks();
  if (num_tasks == 1) return RunTask(model, *batch.mutable_task(0), intra_op_threads);
  const std::size_t num_inputs = batch.task(0).inputs().size();
  const Signature& sig = model.signature();
  // Sequence batching: each task's length, and the longest, which every
  // task's inputs are padded to (tasks of one length pad nothing).
  const int seq_dim = sig.sequence.enabled() ? sig.sequence.dim : 0;
  std::vector<int64_t> lengths;
  int64_t longest = 0;
  if (seq_dim > 0) {
    for (int t = 0; t < num_tasks; ++t) {
      lengths.push_back(batch.task(t).inputs()[0].size(seq_dim));
      longest = std::max(longest, lengths.back());
    }
  }
  std::vector<std::vector<at::Tensor>> padded;
  if (seq_dim > 0) {
    for (int t = 0; t < num_tasks; ++t) padded.push_back(PadToLength(sig, batch.task(t).inputs(), longest));
  }
  std::vector<at::Tensor> joined;
  joined.reserve(num_inputs);
  int64_t total_rows = 0;
  for (int t = 0; t < num_tasks; ++t) total_rows += batch.task(t).rows();
  for (std::size_t i = 0; i < num_inputs; ++i) {
    std::vector<at::Tensor> parts;
    parts.reserve(num_tasks);
    for (int t = 0; t < num_tasks; ++t) parts.push_back(seq_dim > 0 ? padded[t][i] : batch.task(t).inputs()[i]);
    joined.push_back(at::cat(parts, 0));
  }
  padded.clear();
  auto outputs = model.RunUnchecked(joined, intra_op_threads);
  if (!outputs.ok()) return outputs.status();
  for (std::size_t o = 0; o < outputs->size(); ++o) {
    const at::Tensor& out = (*outputs)[o];
    if (out.dim() == 0 || out.size(0) != total_rows) {
      return Status::InferenceFailed("output " + std::to_string(o) + " has " +
                                     (out.dim() == 0 ? std::string("no batch dimension")
                                                     : std::to_string(out.size(0)) + " rows") +
                                     " for a batch of " + std::to_string(total_rows) + " rows; it cannot be split");
    }
  }
  // Which outputs carry the padded sequence dimension, cut back per task.
  std::vector<bool> cut(outputs->size(), false);
  if (seq_dim > 0) {
    for (std::size_t o = 0; o < outputs->size(); ++o) cut[o] = CutsBack(sig, o, (*outputs)[o], longest);
  }
  int64_t offset = 0;
  for (int t = 0; t < num_tasks; ++t) {
    TensorTask& task = *batch.mutable_task(t);
    std::vector<at::Tensor> mine;
    mine.reserve(outputs->size());
    for (std::size_t o = 0; o < outputs->size(); ++o) {
      at::Tensor rows = (*outputs)[o].narrow(0, offset, task.rows());
      if (cut[o] && lengths[t] != longest) rows = rows.narrow(seq_dim, 0, lengths[t]).contiguous();
      mine.push_back(std::move(rows));
    }
    offset += task.rows();
    task.Succeed(std::move(mine));
  }
  return Status::Ok();
}

}  // namespace mlship
