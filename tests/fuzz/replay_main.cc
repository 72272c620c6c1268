// The driver that runs a libFuzzer target without libFuzzer: each argument
// is a file or a folder of files (a seed corpus, crashes turned into
// regressions), and every file is fed once to LLVMFuzzerTestOneInput. CTest
// runs it on the kept corpora in the ordinary build and under the
// sanitizers, so every input that once crashed stays a test; the clang
// build links libFuzzer's own driver instead (`make fuzz-libfuzzer`).
//
// Hand-written: libFuzzer's driver needs clang's runtime, which the GCC
// builds do not have, and this one is 40 lines.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size);

namespace {

std::vector<std::filesystem::path> Files(const std::filesystem::path& where) {
  std::vector<std::filesystem::path> files;
  if (std::filesystem::is_directory(where)) {
    for (const auto& entry : std::filesystem::recursive_directory_iterator(where)) {
      if (entry.is_regular_file()) files.push_back(entry.path());
    }
  } else {
    files.push_back(where);
  }
  return files;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t replayed = 0;
  for (int i = 1; i < argc; ++i) {
    if (!std::filesystem::exists(argv[i])) {
      std::fprintf(stderr, "replay: no such file or folder: %s\n", argv[i]);
      return 2;
    }
    for (const auto& file : Files(argv[i])) {
      std::ifstream in(file, std::ios::binary);
      const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
      ++replayed;
    }
  }
  std::printf("[ replay   ] %zu inputs, 0 crashes\n", replayed);
  return replayed > 0 ? 0 : 1;
}
