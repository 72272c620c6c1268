// Recognizing what a model file is from its contents, not its name.
#pragma once

#include <string>

#include "mlship/engine/model.h"
#include "mlship/status.h"

namespace mlship {

// Checks that `path` is a readable, non-empty regular file and tells its
// format. ModelLoadFailed, naming the path and the cause, for a missing file,
// a directory, an empty file, a file that is not a zip archive, a torch.save()
// pickle (a state_dict or a whole nn.Module), or an unknown archive.
StatusOr<ModelFormat> DetectModelFormat(const std::string& path);

// The same for an in-memory archive (no path checks); `what` names it in errors.
StatusOr<ModelFormat> DetectModelFormatFromBytes(const std::string& bytes, const std::string& what);

// Where a signature is saved beside a model file: "<path>.signature.json".
std::string SignatureSidecarPath(const std::string& model_path);

}  // namespace mlship
