// Format detection by looking inside the archive (PyTorch's own zip reader).
#include "mlship/engine/error_text.h"
#include "mlship/engine/model_file.h"

#include <caffe2/serialize/inline_container.h>
#include <c10/util/Exception.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace mlship {
namespace {

namespace fs = std::filesystem;

bool StartsWith(const std::string& s, std::string_view prefix) { return s.rfind(prefix, 0) == 0; }

// Reads the first bytes to tell "a legacy pickle" from "not an archive at all".
bool LooksLikePickle(const std::string& head) {
  return head.size() >= 2 && static_cast<unsigned char>(head[0]) == 0x80 && head[1] >= 2 && head[1] <= 5;
}

StatusOr<ModelFormat> Classify(caffe2::serialize::PyTorchStreamReader& reader, const std::string& what) {
  bool has_code = false, has_aoti = false, has_data_pkl = false;
  for (const auto& record : reader.getAllRecords()) {
    if (StartsWith(record, "code/")) has_code = true;
    if (StartsWith(record, "data/aotinductor/")) has_aoti = true;
    if (record == "data.pkl") has_data_pkl = true;
  }
  if (has_aoti) return ModelFormat::kAotInductor;
  if (has_code) return ModelFormat::kTorchScript;
  if (has_data_pkl) {
    return Status::ModelLoadFailed(
        "cannot load model from " + what +
        ": it was written by torch.save() (a pickled state_dict or nn.Module), which mlship never unpickles. "
        "Pass the nn.Module to mlship.load(), or save it with torch.jit.save(torch.jit.script(model), path)");
  }
  return Status::ModelLoadFailed("cannot load model from " + what +
                                 ": the archive holds neither TorchScript code nor an AOTInductor package; "
                                 "expected a torch.jit.save() file or an aoti_compile_and_package() .pt2");
}

Status NotAnArchive(const std::string& what, const std::string& head, const std::string& cause) {
  if (LooksLikePickle(head)) {
    return Status::ModelLoadFailed("cannot load model from " + what +
                                   ": it is a legacy pickle file, which mlship never unpickles; expected a "
                                   "TorchScript file (torch.jit.save) or a .pt2 package");
  }
  return Status::ModelLoadFailed("cannot load model from " + what +
                                 ": not a TorchScript file or .pt2 package (not a readable zip archive: " + cause +
                                 ")");
}

}  // namespace

std::string SignatureSidecarPath(const std::string& model_path) { return model_path + ".signature.json"; }

StatusOr<ModelFormat> DetectModelFormat(const std::string& path) {
  const std::string what = "'" + path + "'";
  std::error_code ec;
  auto status = fs::status(path, ec);
  if (ec || !fs::exists(status)) return Status::ModelLoadFailed("cannot load model from " + what + ": no such file");
  if (fs::is_directory(status)) {
    return Status::ModelLoadFailed("cannot load model from " + what +
                                   ": it is a directory; expected a TorchScript file (.pt) or a .pt2 package");
  }
  if (!fs::is_regular_file(status)) {
    return Status::ModelLoadFailed("cannot load model from " + what + ": not a regular file");
  }
  if (fs::file_size(path, ec) == 0) return Status::ModelLoadFailed("cannot load model from " + what + ": the file is empty");
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::ModelLoadFailed("cannot load model from " + what + ": the file cannot be read");
  std::string head(8, '\0');
  in.read(head.data(), 8);
  head.resize(static_cast<std::size_t>(in.gcount()));
  try {
    caffe2::serialize::PyTorchStreamReader reader(path);
    return Classify(reader, what);
  } catch (const std::exception& e) {
    return NotAnArchive(what, head, ErrorSummary(e));
  }
}

StatusOr<ModelFormat> DetectModelFormatFromBytes(const std::string& bytes, const std::string& what) {
  if (bytes.empty()) return Status::ModelLoadFailed("cannot load model from " + what + ": it is empty");
  try {
    std::istringstream in(bytes);
    caffe2::serialize::PyTorchStreamReader reader(&in);
    return Classify(reader, what);
  } catch (const std::exception& e) {
    return NotAnArchive(what, bytes.substr(0, 8), ErrorSummary(e));
  }
}

}  // namespace mlship
