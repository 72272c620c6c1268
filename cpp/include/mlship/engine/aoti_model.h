// AotiModel: a torch.export / AOTInductor .pt2 package behind the Model interface.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "mlship/engine/model.h"

namespace torch::inductor {
class AOTIModelPackageLoader;
}

namespace mlship {

class AotiModel final : public Model {
 public:
  // Loads the package at `path` (compiled code for the CPU). The signature is
  // options.signature, else `saved_signature` (the sidecar file), else derived
  // from options.example_inputs, with output names from the package's call
  // spec (dict keys survive export).
  static StatusOr<std::shared_ptr<AotiModel>> Create(const std::string& path, std::optional<Signature> saved_signature,
                                                     const LoadOptions& options);
  ~AotiModel() override;

  ModelFormat format() const override { return ModelFormat::kAotInductor; }
  // Copies the package to `path` and writes the signature beside it.
  Status Save(const std::string& path) const override;

 private:
  AotiModel(Signature signature, std::string source, int intra_op_threads,
            std::unique_ptr<torch::inductor::AOTIModelPackageLoader> loader);

  std::vector<at::Tensor> Forward(const std::vector<at::Tensor>& inputs) const override;

  // Thread-safe: run() takes one of its runners, waiting while all are busy.
  std::unique_ptr<torch::inductor::AOTIModelPackageLoader> loader_;
};

}  // namespace mlship
