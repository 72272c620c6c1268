// AllocationCounter: how many bytes operator new handed out while it was
// alive, and the peak of bytes live at once (test support). Linking
// allocation_counter.cc replaces the global operator new and delete of the
// test executable.
#pragma once

#include <cstddef>

namespace mlship::serving::testing {

// Counts on every thread; create one around the code under measurement.
class AllocationCounter {
 public:
  AllocationCounter();
  // Bytes allocated since construction (frees not subtracted).
  std::size_t allocated_bytes() const;
  // The most bytes live at once since construction, above what was live at
  // construction.
  std::size_t peak_bytes() const;

 private:
  std::size_t allocated_at_start_;
  std::size_t live_at_start_;
};

}  // namespace mlship::serving::testing
