// glibc malloc settings for serving: freed memory stays in the process for
// the next call instead of going back to the kernel after every call.
//
// Why: with glibc's defaults a block of 128 KiB or more gets its own mmap and
// is unmapped when freed, and free memory at the top of the heap is trimmed
// back to the kernel past 128 KiB (both thresholds rise only after some
// large block has been freed, so a process may or may not get there). A
// model call that allocates a few MiB of temporaries (activations, torch's
// int8 kernels' accumulators) then page-faults every page of them on every
// call: measured on 2026-12-07, three 1.5 MiB blocks allocated, written and
// freed took 1120 minor faults per round with the defaults and 22 with these
// settings, and torch's dynamic int8 Linear [512x256] x [256x768] ran at
// 1000-1700 us (slower than fp32's 650) in the processes that faulted,
// against 340 us in those that did not. Intel's PyTorch CPU tuning guides
// recommend jemalloc/tcmalloc (LD_PRELOAD) for the same reason; mallopt() is
// the in-process equivalent, so `pip install mlship` needs nothing preloaded.
//
// The cost: a process keeps up to trim_threshold of freed memory mapped (its
// RSS stays near its peak). MLSHIP_MALLOC_TUNING=0 in the environment turns
// it off.
#pragma once

#include <cstddef>
#include <string>

namespace mlship {

struct AllocatorTuning {
  // Blocks this large or larger are mmapped and unmapped when freed
  // (M_MMAP_THRESHOLD). Default 32 MiB, glibc's own upper bound for it.
  std::size_t mmap_threshold_bytes = std::size_t{32} << 20;
  // Free memory at the top of a heap beyond this goes back to the kernel
  // (M_TRIM_THRESHOLD). Default 256 MiB.
  std::size_t trim_threshold_bytes = std::size_t{256} << 20;
};

// Applies `tuning` to this process's glibc malloc, once (later calls only
// report), unless MLSHIP_MALLOC_TUNING=0 or tcmalloc serves malloc (linked
// into mlship-server when the build finds it, or preloaded). Returns what is
// in effect, e.g. "glibc malloc: mmap threshold 32 MiB, trim threshold 256 MiB",
// "tcmalloc (glibc thresholds not needed)", "off (MLSHIP_MALLOC_TUNING=0)", or
// "not applied: not glibc".
// Thread-safe.
std::string TuneAllocator(const AllocatorTuning& tuning = {});

}  // namespace mlship
