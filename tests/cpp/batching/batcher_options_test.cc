#include "mlship/batching/batcher_options.h"

#include <gtest/gtest.h>

#include <chrono>

namespace mlship {
namespace {

using std::chrono::microseconds;

TEST(BatcherOptionsTest, DefaultsAreValidAndDocumented) {
  BatcherOptions options;
  EXPECT_TRUE(options.Validate().ok()) << options.Validate().ToString();
  EXPECT_EQ(options.max_batch_size, 32);
  EXPECT_EQ(options.max_queue_delay, microseconds(0));
  EXPECT_EQ(options.max_queue_size, 1024);
  EXPECT_EQ(options.default_timeout, microseconds(0));
  EXPECT_TRUE(options.preferred_batch_sizes.empty());
}

TEST(BatcherOptionsTest, RejectsNonPositiveMaxBatchSizeNamingTheValue) {
  BatcherOptions options;
  options.max_batch_size = 0;
  Status status = options.Validate();
  EXPECT_TRUE(status.IsInvalidArgument());
  EXPECT_EQ(status.message(), "max_batch_size must be positive; was 0");
}

TEST(BatcherOptionsTest, RejectsNonPositiveMaxQueueSize) {
  BatcherOptions options;
  options.max_queue_size = -3;
  Status status = options.Validate();
  EXPECT_TRUE(status.IsInvalidArgument());
  EXPECT_EQ(status.message(), "max_queue_size must be positive; was -3");
}

TEST(BatcherOptionsTest, RejectsNegativeMaxQueueDelay) {
  BatcherOptions options;
  options.max_queue_delay = microseconds(-5);
  Status status = options.Validate();
  EXPECT_TRUE(status.IsInvalidArgument());
  EXPECT_EQ(status.message(), "max_queue_delay must be zero or positive; was -5us");
}

TEST(BatcherOptionsTest, ZeroMaxQueueDelayIsValid) {
  BatcherOptions options;
  options.max_queue_delay = microseconds(0);
  EXPECT_TRUE(options.Validate().ok());
}

TEST(BatcherOptionsTest, RejectsNegativeDefaultTimeout) {
  BatcherOptions options;
  options.default_timeout = microseconds(-1);
  Status status = options.Validate();
  EXPECT_TRUE(status.IsInvalidArgument());
  EXPECT_EQ(status.message(), "default_timeout must be zero (none) or positive; was -1us");
}

TEST(BatcherOptionsTest, RejectsPreferredSizeAboveMaxBatchSize) {
  BatcherOptions options;
  options.max_batch_size = 16;
  options.preferred_batch_sizes = {4, 32};
  Status status = options.Validate();
  EXPECT_TRUE(status.IsInvalidArgument());
  EXPECT_EQ(status.message(), "preferred_batch_sizes[1] must be in [1, max_batch_size=16]; was 32");
}

TEST(BatcherOptionsTest, RejectsNonPositivePreferredSize) {
  BatcherOptions options;
  options.preferred_batch_sizes = {0};
  Status status = options.Validate();
  EXPECT_TRUE(status.IsInvalidArgument());
  EXPECT_NE(status.message().find("was 0"), std::string::npos) << status.message();
}

TEST(BatcherOptionsTest, AcceptsPreferredSizesInRangeInAnyOrder) {
  BatcherOptions options;
  options.preferred_batch_sizes = {32, 1, 8, 8};
  EXPECT_TRUE(options.Validate().ok());
}

}  // namespace
}  // namespace mlship
