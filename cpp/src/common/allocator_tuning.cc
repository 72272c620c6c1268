// glibc malloc thresholds for serving (see allocator_tuning.h for why).
#include "mlship/allocator_tuning.h"

#include <cstdlib>
#include <mutex>
#include <string_view>

#if defined(__GLIBC__)
#include <dlfcn.h>
#include <malloc.h>
#endif

namespace mlship {
namespace {

std::string Mebibytes(std::size_t bytes) { return std::to_string(bytes >> 20) + " MiB"; }

std::string Apply(const AllocatorTuning& tuning) {
  const char* env = std::getenv("MLSHIP_MALLOC_TUNING");
  if (env != nullptr && std::string_view(env) == "0") return "off (MLSHIP_MALLOC_TUNING=0)";
#if defined(__GLIBC__)
  // tcmalloc (linked into mlship-server, or preloaded) replaces malloc whole:
  // glibc's thresholds would be set on an allocator nothing uses.
  if (dlsym(RTLD_DEFAULT, "tc_malloc") != nullptr) return "tcmalloc (glibc thresholds not needed)";
  // mallopt returns 1 on success, 0 when glibc refuses the value.
  const bool mmap_ok = mallopt(M_MMAP_THRESHOLD, static_cast<int>(tuning.mmap_threshold_bytes)) == 1;
  const bool trim_ok = mallopt(M_TRIM_THRESHOLD, static_cast<int>(tuning.trim_threshold_bytes)) == 1;
  std::string text = "glibc malloc:";
  text += mmap_ok ? " mmap threshold " + Mebibytes(tuning.mmap_threshold_bytes) : " mmap threshold refused";
  text += trim_ok ? ", trim threshold " + Mebibytes(tuning.trim_threshold_bytes) : ", trim threshold refused";
  return text;
#else
  (void)tuning;
  return "not applied: not glibc";
#endif
}

}  // namespace

std::string TuneAllocator(const AllocatorTuning& tuning) {
  static std::once_flag once;
  static std::string state;
  std::call_once(once, [&] { state = Apply(tuning); });
  return state;
}

}  // namespace mlship
