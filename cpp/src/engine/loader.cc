// LoadModel: detect the format, find a saved signature, build the model.
#include <c10/util/Exception.h>
#include <torch/csrc/jit/serialization/import.h>

#include <fstream>
#include <sstream>

#include "mlship/engine/error_text.h"
#include "mlship/engine/aoti_model.h"
#include "mlship/engine/model.h"
#include "mlship/engine/mlship_ops.h"
#include "mlship/engine/model_file.h"
#include "mlship/engine/torchscript_model.h"

namespace mlship {
namespace {

// The sidecar signature, if one is there. A sidecar that does not parse is an
// error: silently ignoring it would serve the model with the wrong checks.
StatusOr<std::optional<Signature>> ReadSidecar(const std::string& path) {
  std::ifstream in(SignatureSidecarPath(path), std::ios::binary);
  if (!in) return std::optional<Signature>();
  std::stringstream buffer;
  buffer << in.rdbuf();
  auto sig = Signature::FromJson(buffer.str());
  if (!sig.ok()) {
    return Status::ModelLoadFailed("the signature beside '" + path + "' is invalid: " + sig.status().message());
  }
  return std::optional<Signature>(*sig);
}

StatusOr<std::optional<Signature>> EmbeddedSignature(const torch::jit::ExtraFilesMap& extra, const std::string& what) {
  auto it = extra.find(TorchScriptModel::kSignatureExtraFile);
  if (it == extra.end() || it->second.empty()) return std::optional<Signature>();
  auto sig = Signature::FromJson(it->second);
  if (!sig.ok()) return Status::ModelLoadFailed("the signature saved in " + what + " is invalid: " + sig.status().message());
  return std::optional<Signature>(*sig);
}

template <typename LoadFn>
StatusOr<std::shared_ptr<Model>> LoadTorchScript(LoadFn load, const std::string& source, const LoadOptions& options,
                                                 std::optional<Signature> sidecar) {
  const std::string what = source.front() == '<' ? source : "'" + source + "'";
  torch::jit::ExtraFilesMap extra{{TorchScriptModel::kSignatureExtraFile, ""}};
  torch::jit::Module module;
  try {
    module = load(extra);
  } catch (const std::exception& e) {
    return Status::ModelLoadFailed("cannot load model from " + what + ": " + ErrorSummary(e));
  }
  ASSIGN_OR_RETURN(auto embedded, EmbeddedSignature(extra, what));
  if (!embedded) embedded = sidecar;
  ASSIGN_OR_RETURN(auto model, TorchScriptModel::Create(std::move(module), source, embedded, options));
  return std::shared_ptr<Model>(std::move(model));
}

}  // namespace

StatusOr<std::shared_ptr<Model>> LoadModel(const std::string& path, const LoadOptions& options) {
  EnsureMlshipOpsRegistered();  // models optimized by mlship call its ops
  ASSIGN_OR_RETURN(ModelFormat format, DetectModelFormat(path));
  ASSIGN_OR_RETURN(auto sidecar, ReadSidecar(path));
  if (format == ModelFormat::kAotInductor) {
    ASSIGN_OR_RETURN(auto model, AotiModel::Create(path, sidecar, options));
    return std::shared_ptr<Model>(std::move(model));
  }
  auto load = [&](torch::jit::ExtraFilesMap& extra) { return torch::jit::load(path, c10::Device(c10::kCPU), extra); };
  return LoadTorchScript(load, path, options, sidecar);
}

StatusOr<std::shared_ptr<Model>> LoadTorchScriptFromBytes(const std::string& bytes, const LoadOptions& options) {
  EnsureMlshipOpsRegistered();
  const std::string what = "<in-memory TorchScript>";
  ASSIGN_OR_RETURN(ModelFormat format, DetectModelFormatFromBytes(bytes, what));
  if (format != ModelFormat::kTorchScript) {
    return Status::ModelLoadFailed("cannot load model from " + what + ": expected a TorchScript archive");
  }
  auto load = [&](torch::jit::ExtraFilesMap& extra) {
    std::istringstream in(bytes);
    return torch::jit::load(in, c10::Device(c10::kCPU), extra);
  };
  return LoadTorchScript(load, what, options, std::nullopt);
}

}  // namespace mlship
