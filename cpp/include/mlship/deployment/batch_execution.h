// Running a closed batch of TensorTasks as one forward pass.
#pragma once

#include "mlship/batching/batch.h"
#include "mlship/deployment/tensor_task.h"
#include "mlship/engine/model.h"

namespace mlship {

// Concatenates the tasks' inputs along dimension 0, runs the model once and
// answers each task with its rows of every output (views, no copies). On
// error no task is answered, so the caller can retry them one by one
// (RunWithIsolation). Outputs whose dimension 0 is not the batch's row count
// cannot be split and are an error. `intra_op_threads` is passed to
// Model::RunUnchecked (0 = the model's own setting).
Status RunBatch(const Model& model, Batch<TensorTask>& batch, int intra_op_threads = 0);

// Runs one task on its own and answers it on success.
Status RunTask(const Model& model, TensorTask& task, int intra_op_threads = 0);

}  // namespace mlship
