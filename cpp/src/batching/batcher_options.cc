// BatcherOptions::Validate.
#include "mlship/batching/batcher_options.h"

#include <string>

namespace mlship {

Status BatcherOptions::Validate() const {
  if (max_batch_size <= 0) {
    return Status::InvalidArgument("max_batch_size must be positive; was " +
                                   std::to_string(max_batch_size));
  }
  if (max_queue_size <= 0) {
    return Status::InvalidArgument("max_queue_size must be positive; was " +
                                   std::to_string(max_queue_size));
  }
  if (default_timeout.count() < 0) {
    return Status::InvalidArgument("default_timeout must be zero (none) or positive; was " +
                                   std::to_string(default_timeout.count()) + "us");
  }
  if (max_queue_delay.count() < 0) {
    return Status::InvalidArgument("max_queue_delay must be zero or positive; was " +
                                   std::to_string(max_queue_delay.count()) + "us");
  }
  for (size_t i = 0; i < preferred_batch_sizes.size(); ++i) {
    const int64_t size = preferred_batch_sizes[i];
    if (size < 1 || size > max_batch_size) {
      return Status::InvalidArgument(
          "preferred_batch_sizes[" + std::to_string(i) + "] must be in [1, max_batch_size=" +
          std::to_string(max_batch_size) + "]; was " + std::to_string(size));
    }
  }
  return Status::Ok();
}

}  // namespace mlship
