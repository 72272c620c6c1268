// Substring assertions for messages (GoogleTest without gmock, which this
// system does not ship).
#pragma once

#include <gtest/gtest.h>

#include <string_view>

namespace mlship::serving::testing {

// Use as EXPECT_TRUE(Contains(message, "expected part")).
inline ::testing::AssertionResult Contains(std::string_view text, std::string_view part) {
  if (text.find(part) != std::string_view::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "expected to find \"" << part << "\" in \"" << text << "\"";
}

// Use as EXPECT_TRUE(Lacks(body, "secret")).
inline ::testing::AssertionResult Lacks(std::string_view text, std::string_view part) {
  if (text.find(part) == std::string_view::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "did not expect to find \"" << part << "\" in \"" << text << "\"";
}

}  // namespace mlship::serving::testing
