// Model: one loaded model, whatever its file format, run on host tensors.
//
// Thread-safety: Run() is safe for concurrent use without external
// synchronization; it never touches Python and never needs the GIL.
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <string>
#include <vector>

#include "mlship/engine/signature.h"
#include "mlship/status.h"

namespace mlship {

enum class ModelFormat {
  kTorchScript,   // a torch.jit.save archive
  kAotInductor,   // a torch.export / AOTInductor .pt2 package
};

std::string_view ModelFormatName(ModelFormat format);

// Options for loading a model. Most users set only `example_inputs` or
// `signature`, and `intra_op_threads`.
struct LoadOptions {
  // --- Affects behaviour ---

  // The model's signature. When unset, mlship reads the one saved with the
  // model, else derives it from `example_inputs` (dimension 0 dynamic).
  std::optional<Signature> signature;

  // Example inputs, one per forward() argument. Used to derive the signature,
  // to check that freezing keeps outputs equal, and for warm-up.
  std::vector<at::Tensor> example_inputs;

  // Freeze and optimize_for_inference TorchScript modules when the outputs on
  // the example inputs stay within `optimize_tolerance`. Default true.
  bool optimize = true;

  // Largest absolute difference allowed between the optimized and the
  // original module's outputs on the example inputs. Default 1e-5.
  double optimize_tolerance = 1e-5;

  // --- Affects performance ---

  // Intra-op threads used by each Run() call. 0 (default) keeps torch's
  // default (one per core). With many concurrent callers, 1 avoids
  // oversubscribing the cores.
  int intra_op_threads = 0;

  // Runs made at load so the first request does not pay for lazy
  // initialization and profiling. Default 3.
  int warmup_runs = 3;

  // AOTInductor only: model instances that can run concurrently. 0 (default)
  // means one per hardware thread.
  int aoti_runners = 0;
};

class Model {
 public:
  virtual ~Model() = default;

  const Signature& signature() const { return signature_; }
  virtual ModelFormat format() const = 0;
  // The path it was loaded from, or "<memory>".
  const std::string& source() const { return source_; }
  // True when freeze/optimize_for_inference (TorchScript) was kept.
  virtual bool optimized() const { return false; }
  // Why the module was not optimized, if it was not; empty otherwise.
  virtual std::string optimize_note() const { return {}; }
  int intra_op_threads() const { return intra_op_threads_; }

  // Checks `inputs` against the signature, then runs the model under
  // InferenceMode. Outputs come back flat, in signature().outputs order.
  // Errors: InvalidArgument for inputs that do not match (the message names
  // the input, what was expected and what came), InferenceFailed when the
  // model's forward raises. The model keeps working after either.
  StatusOr<std::vector<at::Tensor>> Run(const std::vector<at::Tensor>& inputs) const;

  // Runs without checking inputs; for callers (the batcher) that checked them.
  // `intra_op_threads` > 0 overrides the model's own thread count for this
  // call (a deployment's workers use their pool's setting); 0 keeps it.
  StatusOr<std::vector<at::Tensor>> RunUnchecked(const std::vector<at::Tensor>& inputs, int intra_op_threads = 0) const;

  // Saves the model with its signature so LoadModel() opens it again.
  virtual Status Save(const std::string& path) const = 0;

 protected:
  Model(Signature signature, std::string source, int intra_op_threads)
      : signature_(std::move(signature)), source_(std::move(source)), intra_op_threads_(intra_op_threads) {}

  // Runs forward; may throw (c10::Error, std::exception): Run() converts.
  virtual std::vector<at::Tensor> Forward(const std::vector<at::Tensor>& inputs) const = 0;

  Signature signature_;
  std::string source_;
  int intra_op_threads_;
};

// Loads a model file, choosing the implementation from the file's contents
// (not its name). Errors: ModelLoadFailed naming the path and the cause.
StatusOr<std::shared_ptr<Model>> LoadModel(const std::string& path, const LoadOptions& options);

// Loads a TorchScript archive held in memory (as written by torch.jit.save).
StatusOr<std::shared_ptr<Model>> LoadTorchScriptFromBytes(const std::string& bytes, const LoadOptions& options);

}  // namespace mlship
