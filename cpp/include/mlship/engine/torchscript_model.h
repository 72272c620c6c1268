// TorchScriptModel: a torch.jit module behind the Model interface.
#pragma once

#include <torch/csrc/jit/api/module.h>

#include <memory>
#include <optional>
#include <string>

#include "mlship/engine/model.h"

namespace mlship {

class TorchScriptModel final : public Model {
 public:
  // Takes a loaded module; `saved_signature` is the one found in the file, if
  // any. Puts it in eval mode, derives or checks the signature, freezes and
  // optimizes it when that keeps outputs equal, and warms it up.
  static StatusOr<std::shared_ptr<TorchScriptModel>> Create(torch::jit::Module module, std::string source,
                                                            std::optional<Signature> saved_signature,
                                                            const LoadOptions& options);

  ModelFormat format() const override { return ModelFormat::kTorchScript; }
  bool optimized() const override { return optimized_; }
  std::string optimize_note() const override { return optimize_note_; }
  // Saves the original (unfrozen) module with the signature embedded as the
  // extra file "mlship_signature.json".
  Status Save(const std::string& path) const override;

  // The module as loaded (eval mode, not frozen): what Save() writes and what
  // mlship's optimization passes rewrite.
  const torch::jit::Module& module() const { return original_; }

  // The name of the extra file that holds the signature in a saved archive.
  static constexpr const char* kSignatureExtraFile = "mlship_signature.json";

 private:
  TorchScriptModel(Signature signature, std::string source, int intra_op_threads, torch::jit::Module original,
                   torch::jit::Module runnable, bool optimized, std::string optimize_note);

  std::vector<at::Tensor> Forward(const std::vector<at::Tensor>& inputs) const override;

  // The module as loaded (eval mode); what Save() writes.
  torch::jit::Module original_;
  // What runs: the frozen/optimized module, or original_ when that changed
  // outputs. torch::jit::Module is a handle; concurrent forward() calls are safe.
  mutable torch::jit::Module runnable_;
  bool optimized_;
  std::string optimize_note_;
};

}  // namespace mlship
