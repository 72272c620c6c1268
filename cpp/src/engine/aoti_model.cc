// AOTInductor packages: device check, signature from the call spec, run.
#include "mlship/engine/error_text.h"
#include "mlship/engine/aoti_model.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <c10/util/Exception.h>
#include <torch/csrc/inductor/aoti_package/model_package_loader.h>

#include <boost/json.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "mlship/engine/model_file.h"
#include "mlship/engine/signature_torch.h"
#include "mlship/engine/validate.h"

namespace mlship {
namespace {

namespace json = boost::json;

// Reads the output structure from the package's pytree out_spec, e.g.
// [1, {"type": "builtins.dict", "context": "[\"a\", \"b\"]", ...}].
// Returns kTensor with no names when the spec cannot be read.
std::pair<OutputKind, std::vector<std::string>> OutputLayoutFromCallSpec(const std::vector<std::string>& call_spec) {
  if (call_spec.size() < 2) return {OutputKind::kTensor, {}};
  boost::system::error_code ec;
  json::parse_options limits;
  limits.max_depth = 64;
  auto root = json::parse(call_spec[1], ec, {}, limits);
  if (ec || !root.is_array() || root.as_array().size() < 2 || !root.as_array()[1].is_object()) {
    return {OutputKind::kTensor, {}};
  }
  const auto& node = root.as_array()[1].as_object();
  const auto* type = node.if_contains("type");
  if (type == nullptr || !type->is_string()) return {OutputKind::kTensor, {}};
  std::string_view t = type->get_string();
  if (t == "builtins.tuple") return {OutputKind::kTuple, {}};
  if (t == "builtins.list") return {OutputKind::kList, {}};
  if (t == "builtins.dict" || t == "collections.OrderedDict") {
    std::vector<std::string> keys;
    const auto* context = node.if_contains("context");
    if (context != nullptr && context->is_string()) {
      auto parsed = json::parse(context->get_string(), ec, {}, limits);
      if (!ec && parsed.is_array()) {
        for (const auto& k : parsed.as_array()) {
          if (k.is_string()) keys.emplace_back(k.get_string());
        }
      }
    }
    return {OutputKind::kDict, keys};
  }
  return {OutputKind::kTensor, {}};
}

}  // namespace

AotiModel::AotiModel(Signature signature, std::string source, int intra_op_threads,
                     std::unique_ptr<torch::inductor::AOTIModelPackageLoader> loader)
    : Model(std::move(signature), std::move(source), intra_op_threads), loader_(std::move(loader)) {}

AotiModel::~AotiModel() = default;

StatusOr<std::shared_ptr<AotiModel>> AotiModel::Create(const std::string& path,
                                                       std::optional<Signature> saved_signature,
                                                       const LoadOptions& options) {
  const std::string what = "'" + path + "'";
  // Inputs are checked against the signature (dtype, rank, fixed dims) before
  // every run. AOTI's own checks (AOTI_RUNTIME_CHECK_INPUTS=1) are not turned
  // on: with torch 2.13 they reject valid batches (a CNN package claimed
  // "dim value ... expected to be <= 15" for batch 32, which runs correctly).
  if (options.intra_op_threads > 0) at::set_num_threads(options.intra_op_threads);
  std::unique_ptr<torch::inductor::AOTIModelPackageLoader> loader;
  try {
    auto metadata = torch::inductor::AOTIModelPackageLoader::load_metadata_from_package(path, "model");
    auto device = metadata.find("AOTI_DEVICE_KEY");
    if (device != metadata.end() && device->second != "cpu") {
      return Status::ModelLoadFailed("cannot load model from " + what + ": the package was compiled for device '" +
                                     device->second +
                                     "', and mlship runs it on the CPU; export and compile it again for the CPU");
    }
    std::size_t runners = options.aoti_runners > 0 ? options.aoti_runners
                                                   : std::max(1u, std::thread::hardware_concurrency());
    loader = std::make_unique<torch::inductor::AOTIModelPackageLoader>(path, "model", false, runners);
  } catch (const std::exception& e) {
    return Status::ModelLoadFailed("cannot load model from " + what + ": " + ErrorSummary(e));
  }

  Signature sig;
  if (options.signature) {
    sig = *options.signature;
  } else if (saved_signature) {
    sig = *saved_signature;
  } else if (!options.example_inputs.empty()) {
    for (std::size_t i = 0; i < options.example_inputs.size(); ++i) {
      auto spec = SpecFromTensor("input_" + std::to_string(i), options.example_inputs[i], true);
      if (!spec.ok()) return Status::ModelLoadFailed(spec.status().message());
      sig.inputs.push_back(*spec);
    }
    std::vector<at::Tensor> out;
    try {
      c10::InferenceMode guard;
      out = loader->run(options.example_inputs);
    } catch (const std::exception& e) {
      return Status::ModelLoadFailed("running " + what + " on its example inputs failed: " + ErrorSummary(e));
    }
    auto [kind, names] = OutputLayoutFromCallSpec(loader->get_call_spec());
    if (kind == OutputKind::kTensor && out.size() > 1) kind = OutputKind::kTuple;
    sig.output_kind = kind;
    for (std::size_t i = 0; i < out.size(); ++i) {
      std::string name = i < names.size() ? names[i] : "output_" + std::to_string(i);
      auto spec = SpecFromTensor(name, out[i], true);
      if (!spec.ok()) return Status::ModelLoadFailed(spec.status().message());
      sig.outputs.push_back(*spec);
    }
  } else {
    return Status::ModelLoadFailed("cannot tell the inputs of " + what +
                                   ": it has no saved signature beside it; pass example_inputs or a signature");
  }

  auto model = std::shared_ptr<AotiModel>(new AotiModel(sig, path, options.intra_op_threads, std::move(loader)));
  std::vector<at::Tensor> warm = options.example_inputs;
  // Batch 2: packages compiled with torch's defaults reject dynamic dims < 2.
  if (warm.empty()) warm = SyntheticInputs(sig.inputs, 2);
  Status valid = ValidateInputs(sig, warm);
  if (!valid.ok()) return Status::ModelLoadFailed("example inputs do not match the signature: " + valid.message());
  for (int i = 0; i < std::max(1, options.warmup_runs); ++i) {
    auto out = model->RunUnchecked(warm);
    if (!out.ok()) return Status::ModelLoadFailed("warm-up run of " + what + " failed: " + out.status().message());
  }
  return model;
}

std::vector<at::Tensor> AotiModel::Forward(const std::vector<at::Tensor>& inputs) const {
  return loader_->run(inputs);
}

Status AotiModel::Save(const std::string& path) const {
  std::error_code ec;
  if (std::filesystem::absolute(path, ec) != std::filesystem::absolute(source_, ec)) {
    std::filesystem::copy_file(source_, path, std::filesystem::copy_options::overwrite_existing, ec);
    if (ec) return Status::InvalidArgument("cannot save the model to '" + path + "': " + ec.message());
  }
  std::ofstream out(SignatureSidecarPath(path), std::ios::binary | std::ios::trunc);
  out << signature_.ToJson();
  if (!out) return Status::InvalidArgument("cannot write the signature beside '" + path + "'");
  return Status::Ok();
}

}  // namespace mlship
