// TorchScript: load, derive the signature, freeze/optimize under a check, run.
#include "mlship/engine/error_text.h"
#include "mlship/engine/torchscript_model.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <c10/util/Exception.h>
#include <torch/csrc/jit/serialization/export.h>

#include <sstream>

#include "mlship/engine/signature_torch.h"
#include "mlship/engine/validate.h"

namespace mlship {
namespace {

// Output structure of one forward() result: its kind and each tensor's name.
struct OutputLayout {
  OutputKind kind = OutputKind::kTensor;
  std::vector<std::string> names;
  std::vector<at::Tensor> tensors;
};

StatusOr<OutputLayout> DescribeOutput(const c10::IValue& out) {
  OutputLayout layout;
  auto tensor_or_error = [](const c10::IValue& v, const std::string& where) -> StatusOr<at::Tensor> {
    if (!v.isTensor()) {
      return Status::ModelLoadFailed("model output " + where + " is a " + v.tagKind() +
                                     "; mlship serves tensors, and tuples, lists or dicts of tensors");
    }
    return v.toTensor();
  };
  if (out.isTensor()) {
    layout.kind = OutputKind::kTensor;
    layout.names = {"output_0"};
    layout.tensors = {out.toTensor()};
  } else if (out.isTuple() || out.isList()) {
    layout.kind = out.isTuple() ? OutputKind::kTuple : OutputKind::kList;
    auto elements = out.isTuple() ? out.toTupleRef().elements().vec() : out.toListRef().vec();
    for (std::size_t i = 0; i < elements.size(); ++i) {
      ASSIGN_OR_RETURN(auto t, tensor_or_error(elements[i], std::to_string(i)));
      layout.names.push_back("output_" + std::to_string(i));
      layout.tensors.push_back(t);
    }
  } else if (out.isGenericDict()) {
    layout.kind = OutputKind::kDict;
    for (const auto& entry : out.toGenericDict()) {
      if (!entry.key().isString()) return Status::ModelLoadFailed("model returns a dict whose keys are not strings");
      std::string key = entry.key().toStringRef();
      ASSIGN_OR_RETURN(auto t, tensor_or_error(entry.value(), "'" + key + "'"));
      layout.names.push_back(key);
      layout.tensors.push_back(t);
    }
  } else {
    return Status::ModelLoadFailed(std::string("model returns a ") + out.tagKind() +
                                   "; mlship serves tensors, and tuples, lists or dicts of tensors");
  }
  return layout;
}

// Flattens a forward() result in the order the signature names its outputs.
std::vector<at::Tensor> Flatten(const c10::IValue& out, const Signature& sig) {
  std::vector<at::Tensor> flat;
  flat.reserve(sig.outputs.size());
  if (out.isTensor()) {
    flat.push_back(out.toTensor());
  } else if (out.isTuple()) {
    for (const auto& v : out.toTupleRef().elements()) flat.push_back(v.toTensor());
  } else if (out.isList()) {
    for (const auto& v : out.toListRef()) flat.push_back(v.toTensor());
  } else if (out.isGenericDict()) {
    auto dict = out.toGenericDict();
    for (const auto& spec : sig.outputs) {
      auto it = dict.find(spec.name);
      TORCH_CHECK(it != dict.end(), "model output dict has no key '", spec.name, "'");
      flat.push_back(it->value().toTensor());
    }
  } else {
    TORCH_CHECK(false, "model returned a ", out.tagKind(), " where its signature expects tensors");
  }
  return flat;
}

c10::IValue CallForward(torch::jit::Module& module, const std::vector<at::Tensor>& inputs) {
  std::vector<c10::IValue> stack(inputs.begin(), inputs.end());
  return module.forward(std::move(stack));
}

std::vector<std::string> ForwardArgumentNames(const torch::jit::Module& module) {
  std::vector<std::string> names;
  const auto& args = module.get_method("forward").function().getSchema().arguments();
  for (std::size_t i = 1; i < args.size(); ++i) names.push_back(args[i].name());  // skip self
  return names;
}

StatusOr<Signature> DeriveSignature(torch::jit::Module& module, const std::vector<at::Tensor>& examples) {
  auto arg_names = ForwardArgumentNames(module);
  if (examples.size() > arg_names.size()) {
    return Status::ModelLoadFailed("forward() takes " + std::to_string(arg_names.size()) + " input(s) but " +
                                   std::to_string(examples.size()) + " example input(s) were given");
  }
  Signature sig;
  for (std::size_t i = 0; i < examples.size(); ++i) {
    auto spec = SpecFromTensor(arg_names[i], examples[i], /*dynamic_batch=*/true);
    if (!spec.ok()) return Status::ModelLoadFailed("example input '" + arg_names[i] + "': " + spec.status().message());
    sig.inputs.push_back(*spec);
  }
  c10::IValue out;
  try {
    c10::InferenceMode guard;
    out = CallForward(module, examples);
  } catch (const std::exception& e) {
    return Status::ModelLoadFailed(std::string("running the model on its example inputs failed: ") +
                                   ErrorSummary(e));
  }
  ASSIGN_OR_RETURN(auto layout, DescribeOutput(out));
  sig.output_kind = layout.kind;
  for (std::size_t i = 0; i < layout.tensors.size(); ++i) {
    auto spec = SpecFromTensor(layout.names[i], layout.tensors[i], sig.batchable());
    if (!spec.ok()) return Status::ModelLoadFailed("output '" + layout.names[i] + "': " + spec.status().message());
    sig.outputs.push_back(*spec);
  }
  return sig;
}

StatusOr<std::vector<at::Tensor>> RunFlat(torch::jit::Module& module, const std::vector<at::Tensor>& inputs,
                                          const Signature& sig) {
  try {
    c10::InferenceMode guard;
    return Flatten(CallForward(module, inputs), sig);
  } catch (const std::exception& e) {
    return Status::ModelLoadFailed(ErrorSummary(e));
  }
}

// Freezes and optimizes `module`; returns it only when its outputs on each
// probe batch stay within `tolerance` of the original's. `note` says why not.
std::optional<torch::jit::Module> TryOptimize(torch::jit::Module& module, const Signature& sig,
                                              const std::vector<std::vector<at::Tensor>>& probes, double tolerance,
                                              std::string* note) {
  torch::jit::Module candidate;
  try {
    candidate = torch::jit::freeze(module);
    candidate = torch::jit::optimize_for_inference(candidate);
  } catch (const std::exception& e) {
    *note = std::string("freeze/optimize_for_inference failed: ") + ErrorSummary(e);
    return std::nullopt;
  }
  for (const auto& probe : probes) {
    auto expected = RunFlat(module, probe, sig);
    auto got = RunFlat(candidate, probe, sig);
    if (!expected.ok() || !got.ok()) {
      *note = "the optimized module failed on the example inputs: " +
              (got.ok() ? expected.status().message() : got.status().message());
      return std::nullopt;
    }
    double diff = MaxRelativeDifference(*expected, *got);
    if (diff > tolerance) {
      std::ostringstream msg;
      msg << "the optimized module's outputs differ by " << diff << " (tolerance " << tolerance << ")";
      *note = msg.str();
      return std::nullopt;
    }
  }
  return candidate;
}

}  // namespace

TorchScriptModel::TorchScriptModel(Signature signature, std::string source, int intra_op_threads,
                                   torch::jit::Module original, torch::jit::Module runnable, bool optimized,
                                   std::string optimize_note)
    : Model(std::move(signature), std::move(source), intra_op_threads),
      original_(std::move(original)),
      runnable_(std::move(runnable)),
      optimized_(optimized),
      optimize_note_(std::move(optimize_note)) {}

StatusOr<std::shared_ptr<TorchScriptModel>> TorchScriptModel::Create(torch::jit::Module module, std::string source,
                                                                     std::optional<Signature> saved_signature,
                                                                     const LoadOptions& options) {
  if (options.intra_op_threads > 0) at::set_num_threads(options.intra_op_threads);
  module.eval();
  Signature sig;
  if (options.signature) {
    sig = *options.signature;
  } else if (saved_signature) {
    sig = *saved_signature;
  } else if (!options.example_inputs.empty()) {
    ASSIGN_OR_RETURN(sig, DeriveSignature(module, options.example_inputs));
  } else {
    return Status::ModelLoadFailed(
        "cannot tell the inputs of '" + source +
        "': it holds no saved signature; declare its inputs and outputs (signature= or example_inputs= in Python, "
        "--input NAME:DTYPE:DIMS and --output NAME:DTYPE:DIMS on the command line, e.g. --input x:FP32:-1,64)");
  }
  // Probe inputs: the examples (or synthetic ones), and a 3x bigger batch so
  // an optimization that only holds for one batch size is caught.
  std::vector<at::Tensor> examples = options.example_inputs;
  if (examples.empty()) examples = SyntheticInputs(sig.inputs, 2);
  Status valid = ValidateInputs(sig, examples);
  if (!valid.ok()) return Status::ModelLoadFailed("example inputs do not match the signature: " + valid.message());
  std::vector<std::vector<at::Tensor>> probes = {examples};
  if (sig.batchable()) probes.push_back(RepeatBatch(examples, 3));
  for (const auto& probe : probes) {
    auto out = RunFlat(module, probe, sig);
    if (!out.ok()) {
      return Status::ModelLoadFailed("running " + source + " on inputs matching its signature failed: " +
                                     out.status().message());
    }
    if (out->size() != sig.outputs.size()) {
      return Status::ModelLoadFailed("the model returns " + std::to_string(out->size()) +
                                     " output(s) but its signature declares " + std::to_string(sig.outputs.size()));
    }
  }

  torch::jit::Module runnable = module;
  bool optimized = false;
  std::string note = "optimization turned off";
  if (options.optimize) {
    note.clear();
    if (auto candidate = TryOptimize(module, sig, probes, options.optimize_tolerance, &note)) {
      runnable = *candidate;
      optimized = true;
    }
  }
  auto model = std::shared_ptr<TorchScriptModel>(new TorchScriptModel(
      std::move(sig), std::move(source), options.intra_op_threads, module, runnable, optimized, note));
  for (int i = 0; i < options.warmup_runs; ++i) {
    for (const auto& probe : probes) {
      auto warm = model->RunUnchecked(probe);
      if (!warm.ok()) return Status::ModelLoadFailed("warm-up run failed: " + warm.status().message());
    }
  }
  return model;
}

std::vector<at::Tensor> TorchScriptModel::Forward(const std::vector<at::Tensor>& inputs) const {
  return Flatten(CallForward(runnable_, inputs), signature_);
}

Status TorchScriptModel::Save(const std::string& path) const {
  try {
    torch::jit::ExtraFilesMap extra{{kSignatureExtraFile, signature_.ToJson()}};
    original_.save(path, extra);
  } catch (const std::exception& e) {
    return Status::InvalidArgument("cannot save the model to '" + path + "': " + ErrorSummary(e));
  }
  return Status::Ok();
}

}  // namespace mlship
