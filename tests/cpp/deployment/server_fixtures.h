// What the Server tests share: small TorchScript versions that answer with
// their own numbers, in-process options, and a repository fixture.
#pragma once

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "mlship/deployment/server.h"
#include "mlship/repository/repository.h"
#include "test_modules.h"

namespace mlship {

using Result = StatusOr<std::vector<at::Tensor>>;

// forward(x) = x * scale + shift, x of shape [N, 4]: each version its own numbers.
inline torch::jit::Module ScaleModule(float scale, float shift) {
  torch::jit::Module m("Scale");
  m.register_buffer("scale", torch::full({4}, scale));
  m.register_buffer("shift", torch::full({4}, shift));
  m.define(R"(
def forward(self, x: Tensor) -> Tensor:
    return x * self.scale + self.shift
)");
  return m;
}

inline std::string SavedScale(float scale, float shift) {
  return testing::SaveModule(ScaleModule(scale, shift), "scale.pt");
}

inline std::shared_ptr<Model> Loaded(const std::string& path) {
  LoadOptions options;
  options.example_inputs = {torch::zeros({1, 4})};
  auto model = LoadModel(path, options);
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  return model.ok() ? *model : nullptr;
}

inline ServingOptions InProcess() {
  ServingOptions o;
  o.server.serve_http = false;
  o.server.workers.instances = 2;
  o.version_options.batcher.max_batch_size = 8;
  o.version_options.monitor.log = [](const std::string&) {};
  return o;
}

inline VersionSource Source(std::shared_ptr<Model> model, const ServingOptions& o) {
  VersionSource s;
  s.model = std::move(model);
  s.options = o.version_options;
  return s;
}

// x: FP32[-1, 4] -> y: FP32[-1, 4], the signature of every version here.
inline Signature RowSignature() {
  Signature s;
  s.inputs = {TensorSpec{"x", DType::kFloat32, {-1, 4}}};
  s.outputs = {TensorSpec{"y", DType::kFloat32, {-1, 4}}};
  return s;
}

inline at::Tensor Row(float value) { return torch::full({1, 4}, value); }

class RepositoryServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = testing::TempPath("repository");
    repo_.emplace(repository::Repository::Open(root_, /*create=*/true).value());
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  // Adds x * scale + 0 as a new version of `name`.
  std::string Add(const std::string& name, float scale, std::vector<std::string> aliases = {}) {
    repository::AddRequest r;
    r.name = name;
    r.model_path = SavedScale(scale, 0);
    r.aliases = std::move(aliases);
    Signature sig;  // a plain TorchScript file: the manifest declares its tensors
    sig.inputs = {TensorSpec{"x", DType::kFloat32, {-1, 4}}};
    sig.outputs = {TensorSpec{"y", DType::kFloat32, {-1, 4}}};
    r.signature = sig;
    auto added = repo_->Add(r);
    EXPECT_TRUE(added.ok()) << added.status().ToString();
    return added.ok() ? added->version : "";
  }
  float Answer(Server& s, const std::string& model, const std::string& version = "") {
    Result r = s.Predict(model, {Row(1)}, {.version = version});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? (*r)[0][0][0].item<float>() : -1.0f;
  }

  std::string root_;
  std::optional<repository::Repository> repo_;
};

}  // namespace mlship
