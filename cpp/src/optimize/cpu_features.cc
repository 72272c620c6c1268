// Reduced-precision CPU features, read from /proc/cpuinfo (Linux).
#include "mlship/optimize/cpu_features.h"

#include <algorithm>
#include <fstream>
#include <sstream>

namespace mlship {
namespace {

// The flags that decide how int8 / fp16 / bf16 arithmetic runs, in the order
// reports list them.
constexpr const char* kInteresting[] = {"avx2",        "fma",        "f16c",     "avx512f",  "avx512_vnni",
                                        "avx_vnni",    "avx512_bf16", "avx512_fp16", "amx_tile", "amx_int8",
                                        "amx_bf16",    "amx_fp16"};

bool Has(const std::vector<std::string>& flags, const char* flag) {
  return std::find(flags.begin(), flags.end(), flag) != flags.end();
}

}  // namespace

std::vector<std::string> ReducedPrecisionCpuFlags() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  std::vector<std::string> all;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line.substr(line.find(':') + 1));
    for (std::string word; words >> word;) all.push_back(word);
    break;  // every core reports the same flags
  }
  std::vector<std::string> found;
  for (const char* flag : kInteresting) {
    if (Has(all, flag)) found.emplace_back(flag);
  }
  return found;
}

std::string HalfPrecisionSupport() {
  auto flags = ReducedPrecisionCpuFlags();
  if (flags.empty()) return "unknown (no /proc/cpuinfo flags)";
  std::string bf16 = Has(flags, "amx_bf16")      ? "native (amx_bf16)"
                     : Has(flags, "avx512_bf16") ? "native (avx512_bf16)"
                                                 : "emulated (no avx512_bf16/amx_bf16)";
  std::string fp16 = Has(flags, "amx_fp16")      ? "native (amx_fp16)"
                     : Has(flags, "avx512_fp16") ? "native (avx512_fp16)"
                     : Has(flags, "f16c")        ? "convert only (f16c; no fp16 arithmetic)"
                                                 : "emulated";
  return "bf16: " + bf16 + "; fp16: " + fp16;
}

}  // namespace mlship
