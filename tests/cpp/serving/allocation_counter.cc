// Global operator new/delete that count bytes, for AllocationCounter.
#include "allocation_counter.h"

#include <malloc.h>

#include <atomic>
#include <cstdlib>
#include <new>

namespace {

std::atomic<std::size_t> g_allocated{0};
std::atomic<std::size_t> g_live{0};
std::atomic<std::size_t> g_peak{0};

void* CountedAlloc(std::size_t size) {
  void* p = std::malloc(size == 0 ? 1 : size);
  if (p == nullptr) throw std::bad_alloc();
  const std::size_t usable = malloc_usable_size(p);
  g_allocated.fetch_add(usable, std::memory_order_relaxed);
  const std::size_t live = g_live.fetch_add(usable, std::memory_order_relaxed) + usable;
  std::size_t peak = g_peak.load(std::memory_order_relaxed);
  while (live > peak && !g_peak.compare_exchange_weak(peak, live, std::memory_order_relaxed)) {
  }
  return p;
}

void CountedFree(void* p) noexcept {
  if (p == nullptr) return;
  g_live.fetch_sub(malloc_usable_size(p), std::memory_order_relaxed);
  std::free(p);
}

}  // namespace

void* operator new(std::size_t size) { return CountedAlloc(size); }
void* operator new[](std::size_t size) { return CountedAlloc(size); }
void operator delete(void* p) noexcept { CountedFree(p); }
void operator delete[](void* p) noexcept { CountedFree(p); }
void operator delete(void* p, std::size_t) noexcept { CountedFree(p); }
void operator delete[](void* p, std::size_t) noexcept { CountedFree(p); }

namespace mlship::serving::testing {

AllocationCounter::AllocationCounter()
    : allocated_at_start_(g_allocated.load()), live_at_start_(g_live.load()) {
  g_peak.store(live_at_start_);
}

std::size_t AllocationCounter::allocated_bytes() const { return g_allocated.load() - allocated_at_start_; }

std::size_t AllocationCounter::peak_bytes() const {
  const std::size_t peak = g_peak.load();
  return peak > live_at_start_ ? peak - live_at_start_ : 0;
}

}  // namespace mlship::serving::testing
