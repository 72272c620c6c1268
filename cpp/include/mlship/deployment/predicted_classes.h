// Classifier outputs for prediction drift: whether a model's outputs are
// class scores, the class each row predicts, and the class mix a model
// predicts on a reference set.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>
#include <vector>

#include "mlship/engine/model.h"
#include "mlship/monitor/class_profile.h"
#include "mlship/monitor/model_monitor.h"
#include "mlship/status.h"

namespace mlship {

// What `classifier` (ModelMonitorOptions::classifier) means for a model with
// this signature. 0: predictions are not watched (false, or nullopt and the
// outputs are not class scores). Otherwise the class count from the
// signature, or -1 when that dimension is dynamic (the outputs tell).
//
// Class scores: exactly one output (the first, with classifier = true),
// floating point (FP16/BF16/FP32/FP64), shaped [rows, classes] with classes
// >= 2 or dynamic; and one input with a dynamic batch dimension, so the model
// can run on the reference. With classifier = true a model that does not
// fit is InvalidArgument, naming what was expected and what it has.
StatusOr<int64_t> ClassifierClasses(const Signature& signature, std::optional<bool> classifier);

// The predicted class of each row of `scores` [rows, classes]: the index of
// its largest value (the first one on ties; NaN scores never win).
// InvalidArgument for another rank or a non-real dtype.
StatusOr<std::vector<int64_t>> PredictedClasses(const at::Tensor& scores);

// The class mix `model` predicts on `reference` (its only input; converted
// to the input's dtype), run in chunks of `chunk_rows` rows, or nullopt when
// ClassifierClasses says predictions are not watched, or (classifier
// nullopt) the outputs turn out not to be [rows, classes >= 2].
// InvalidArgument when the model fails on the reference (naming the rows),
// or, with classifier = true, when its output does not fit.
StatusOr<std::optional<monitor::ClassProfile>> ReferenceClasses(const Model& model, const at::Tensor& reference,
                                                                std::optional<bool> classifier, int64_t chunk_rows);

// Records the classes predicted in `outputs` (a request's outputs) in the
// monitor's prediction window, when its reference is a classifier's and the
// first output has its class count. Cheap enough for every request: an
// argmax per row and a lock-free append.
void ObservePredictedClasses(monitor::ModelMonitor& monitor, const std::vector<at::Tensor>& outputs);

}  // namespace mlship
