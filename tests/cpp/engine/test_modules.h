// TorchScript modules built in C++ for the engine tests (no Python needed).
#pragma once

#include <torch/script.h>

#include <filesystem>
#include <random>
#include <string>

namespace mlship::testing {

// forward(x) = x * 2 + 1, for x of shape [N, 4].
inline torch::jit::Module AffineModule() {
  torch::jit::Module m("Affine");
  m.register_buffer("scale", torch::full({4}, 2.0));
  m.define(R"(
def forward(self, x: Tensor) -> Tensor:
    return x * self.scale + 1.0
)");
  return m;
}

// Two inputs, dict output.
inline torch::jit::Module DictModule() {
  torch::jit::Module m("Dict");
  m.define(R"(
def forward(self, features: Tensor, mask: Tensor) -> Dict[str, Tensor]:
    return {"sum": features.sum(1, keepdim=True), "masked": features * mask}
)");
  return m;
}

// Raises when any value exceeds 100.
inline torch::jit::Module PickyModule() {
  torch::jit::Module m("Picky");
  m.define(R"(
def forward(self, x: Tensor) -> Tensor:
    assert bool(x.max() <= 100.0), "value above 100"
    return x - 1.0
)");
  return m;
}

// A fresh path under the system temp dir (the file is not created).
inline std::string TempPath(const std::string& name) {
  static std::mt19937_64 rng(std::random_device{}());
  auto dir = std::filesystem::temp_directory_path() / ("mlship-test-" + std::to_string(rng()));
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}

inline std::string SaveModule(const torch::jit::Module& m, const std::string& name) {
  std::string path = TempPath(name);
  m.save(path);
  return path;
}

}  // namespace mlship::testing
