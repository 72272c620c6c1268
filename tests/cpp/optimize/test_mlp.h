// A small TorchScript MLP built in C++ for the optimization pass tests.
#pragma once

#include <torch/script.h>

#include <memory>

#include "mlship/engine/torchscript_model.h"

namespace mlship::testing {

// 16 -> 32 -> relu -> 32 -> relu -> 4, seeded weights.
inline torch::jit::Module MlpModule() {
  torch::manual_seed(0);
  torch::jit::Module m("Mlp");
  m.register_parameter("w1", torch::randn({32, 16}) * 0.3, false);
  m.register_parameter("b1", torch::randn({32}) * 0.1, false);
  m.register_parameter("w2", torch::randn({32, 32}) * 0.2, false);
  m.register_parameter("b2", torch::randn({32}) * 0.1, false);
  m.register_parameter("w3", torch::randn({4, 32}) * 0.2, false);
  m.register_parameter("b3", torch::randn({4}) * 0.1, false);
  m.define(R"(
def forward(self, x: Tensor) -> Tensor:
    h = torch.relu(torch.linear(x, self.w1, self.b1))
    h = torch.relu(torch.linear(h, self.w2, self.b2))
    return torch.linear(h, self.w3, self.b3)
)");
  return m;
}

// forward(x) = relu(x) * 2: nothing for any pass to change.
inline torch::jit::Module NoLinearModule() {
  torch::jit::Module m("NoLinear");
  m.define(R"(
def forward(self, x: Tensor) -> Tensor:
    return torch.relu(x) * 2.0
)");
  return m;
}

inline std::shared_ptr<Model> Load(torch::jit::Module module, int64_t features) {
  LoadOptions options;
  options.example_inputs = {torch::randn({2, features})};
  auto model = TorchScriptModel::Create(std::move(module), "<test>", std::nullopt, options);
  if (!model.ok()) throw std::runtime_error(model.status().ToString());
  return *model;
}

}  // namespace mlship::testing
