// mlship's TorchScript operators, registered with torch's dispatcher:
//
//   mlship::linear_int8(Tensor x, __torch__.torch.classes.mlship.Int8LinearWeight weight) -> Tensor
//   mlship::linear_half(Tensor x, Tensor weight, Tensor? bias, bool compute_in_half) -> Tensor
//
// Models optimized by mlship call them, so loading such a model needs them
// registered: they are whenever the mlship engine is linked (mlship._core,
// mlship-server), because LoadModel() calls EnsureMlshipOpsRegistered().
// A plain torch.jit.load without mlship imported cannot open those files.
#pragma once

namespace mlship {

// Keeps the registration linked into any binary that loads models (static
// libraries drop unreferenced objects). Cheap; call it as often as you like.
void EnsureMlshipOpsRegistered();

}  // namespace mlship
