// Predicted classes of a classifier, live and on the reference.
#include "mlship/deployment/predicted_classes.h"

#include <ATen/ATen.h>

#include <string>

#include "mlship/engine/dtype_torch.h"

namespace mlship {
namespace {

bool IsFloating(DType dtype) {
  return dtype == DType::kFloat16 || dtype == DType::kBFloat16 || dtype == DType::kFloat32 ||
         dtype == DType::kFloat64;
}

// Why this signature's outputs are not class scores; empty when they are.
std::string WhyNotClassScores(const Signature& sig, bool insisted) {
  if (sig.outputs.empty()) return "the model has no outputs";
  if (!insisted && sig.outputs.size() != 1) {
    return "the model has " + std::to_string(sig.outputs.size()) + " outputs, not one";
  }
  if (sig.inputs.size() != 1) {
    return "the model takes " + std::to_string(sig.inputs.size()) +
           " inputs; the reference covers one, so the model cannot be run on it";
  }
  if (!sig.batchable()) return "input '" + sig.inputs[0].name + "' has a fixed batch dimension";
  const TensorSpec& out = sig.outputs[0];
  if (!IsFloating(out.dtype) || out.shape.size() != 2 || (out.shape[1] >= 0 && out.shape[1] < 2)) {
    return "output " + out.ToString() + " is not floating-point scores shaped [rows, classes >= 2]";
  }
  return "";
}

// argmax of `n` values; NaN never compares greater, so it never wins.
template <typename T>
int64_t ArgMax(const T* row, int64_t n) {
  int64_t best = 0;
  for (int64_t c = 1; c < n; ++c) {
    if (row[c] > row[best] || (row[best] != row[best] && row[c] == row[c])) best = c;
  }
  return best;
}

}  // namespace

StatusOr<int64_t> ClassifierClasses(const Signature& signature, std::optional<bool> classifier) {
  if (classifier.has_value() && !*classifier) return int64_t{0};
  const bool insisted = classifier.value_or(false);
  const std::string why = WhyNotClassScores(signature, insisted);
  if (why.empty()) return signature.outputs[0].shape[1];
  if (!insisted) return int64_t{0};
  return Status::InvalidArgument("classifier=true needs one input and a first output of class scores shaped "
                                 "[rows, classes >= 2] (floating point); " + why);
}

StatusOr<std::vector<int64_t>> PredictedClasses(const at::Tensor& scores) {
  if (scores.dim() != 2) {
    return Status::InvalidArgument("class scores must be shaped [rows, classes]; got a tensor of rank " +
                                   std::to_string(scores.dim()));
  }
  const int64_t rows = scores.size(0);
  const int64_t classes = scores.size(1);
  std::vector<int64_t> out(static_cast<std::size_t>(rows), 0);
  if (rows == 0 || classes == 0) return out;
  // float32 and float64 (the usual cases) are read in place; a loop over
  // a contiguous row costs less than an ATen dispatch per request.
  if (scores.scalar_type() == at::kFloat || scores.scalar_type() == at::kDouble) {
    const at::Tensor rowwise = scores.contiguous();
    for (int64_t r = 0; r < rows; ++r) {
      out[static_cast<std::size_t>(r)] = scores.scalar_type() == at::kFloat
                                             ? ArgMax(rowwise.data_ptr<float>() + r * classes, classes)
                                             : ArgMax(rowwise.data_ptr<double>() + r * classes, classes);
    }
    return out;
  }
  if (!at::isFloatingType(scores.scalar_type()) && !at::isIntegralType(scores.scalar_type(), /*includeBool=*/false)) {
    return Status::InvalidArgument("class scores must be real numbers; got " +
                                   std::string(c10::toString(scores.scalar_type())));
  }
  const at::Tensor widened = scores.to(at::kDouble).contiguous();
  for (int64_t r = 0; r < rows; ++r) {
    out[static_cast<std::size_t>(r)] = ArgMax(widened.data_ptr<double>() + r * classes, classes);
  }
  return out;
}

StatusOr<std::optional<monitor::ClassProfile>> ReferenceClasses(const Model& model, const at::Tensor& reference,
                                                                std::optional<bool> classifier, int64_t chunk_rows) {
  using Result = std::optional<monitor::ClassProfile>;
  ASSIGN_OR_RETURN(const int64_t declared_classes, ClassifierClasses(model.signature(), classifier));
  if (declared_classes == 0) return Result();
  if (chunk_rows < 1) return Status::InvalidArgument("chunk_rows must be >= 1; was " + std::to_string(chunk_rows));
  const bool insisted = classifier.value_or(false);
  const TensorSpec& input = model.signature().inputs.at(0);
  const at::Tensor converted = reference.to(ToScalarType(input.dtype)).contiguous();
  const int64_t rows = converted.size(0);
  std::vector<int64_t> counts;
  for (int64_t start = 0; start < rows; start += chunk_rows) {
    const int64_t end = std::min(rows, start + chunk_rows);
    const std::string where = "rows " + std::to_string(start) + ".." + std::to_string(end - 1);
    StatusOr<std::vector<at::Tensor>> outputs = model.Run({converted.slice(0, start, end)});
    if (!outputs.ok()) {
      return Status::InvalidArgument("running the model on the reference (" + where +
                                     ") to profile its predicted classes failed: " + outputs.status().message() +
                                     " (deploy with classifier=False to skip this)");
    }
    const at::Tensor scores = outputs->empty() ? at::Tensor() : (*outputs)[0];
    const bool fits = scores.defined() && scores.dim() == 2 && scores.size(0) == end - start && scores.size(1) >= 2 &&
                      (counts.empty() || static_cast<int64_t>(counts.size()) == scores.size(1));
    if (!fits) {
      if (!insisted) return Result();  // not class scores after all: predictions are not watched
      std::string got = "no output";
      if (scores.defined()) {
        got = "shape [";
        for (int64_t d = 0; d < scores.dim(); ++d) got += (d ? ", " : "") + std::to_string(scores.size(d));
        got += "]";
      }
      return Status::InvalidArgument("classifier=true, but on the reference (" + where +
                                     ") the model's first output is not class scores shaped [" +
                                     std::to_string(end - start) + ", " +
                                     (counts.empty() ? std::string("classes >= 2") : std::to_string(counts.size())) +
                                     "]; got " + got);
    }
    if (counts.empty()) counts.assign(static_cast<std::size_t>(scores.size(1)), 0);
    ASSIGN_OR_RETURN(std::vector<int64_t> classes, PredictedClasses(scores));
    for (int64_t c : classes) ++counts[static_cast<std::size_t>(c)];
  }
  ASSIGN_OR_RETURN(monitor::ClassProfile profile, monitor::ClassProfile::FromCounts(std::move(counts)));
  return Result(std::move(profile));
}

void ObservePredictedClasses(monitor::ModelMonitor& monitor, const std::vector<at::Tensor>& outputs) {
  const int64_t classes = monitor.reference_classes();
  if (classes == 0 || outputs.empty()) return;
  const at::Tensor& scores = outputs[0];
  if (scores.dim() != 2 || scores.size(1) != classes) return;
  StatusOr<std::vector<int64_t>> predicted = PredictedClasses(scores);
  if (!predicted.ok()) return;
  monitor.ObservePredictions(predicted->data(), static_cast<int64_t>(predicted->size()), classes);
}

}  // namespace mlship
