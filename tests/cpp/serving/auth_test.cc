// Tests the internal token checks (cpp/src/serving/auth.h).
#include "auth.h"

#include <gtest/gtest.h>
#include "text_assertions.h"

namespace mlship::serving::internal {
namespace {

using ::mlship::serving::testing::Contains;
using ::mlship::serving::testing::Lacks;


TEST(BearerTokenTest, ConstantTimeEqualsComparesContentAndLength) {
  EXPECT_TRUE(ConstantTimeEquals("s3cret-token", "s3cret-token"));
  EXPECT_FALSE(ConstantTimeEquals("s3cret-tokeN", "s3cret-token"));
  EXPECT_FALSE(ConstantTimeEquals("s3cret", "s3cret-token"));
  EXPECT_FALSE(ConstantTimeEquals("s3cret-token-and-more", "s3cret-token"));
  // A prefix repeated to the expected length must not pass either.
  EXPECT_FALSE(ConstantTimeEquals("abcabc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("", "abc"));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_FALSE(ConstantTimeEquals("a", ""));
}

TEST(BearerTokenTest, AcceptsTheBearerTokenWithAnyCaseOfTheScheme) {
  EXPECT_TRUE(CheckBearerToken("Bearer tok-123", "tok-123").ok());
  EXPECT_TRUE(CheckBearerToken("bearer tok-123", "tok-123").ok());
  EXPECT_TRUE(CheckBearerToken("BEARER   tok-123 ", "tok-123").ok());
}

TEST(BearerTokenTest, RefusesMissingOtherSchemeOrWrongTokenWithoutEchoingIt) {
  const Status missing = CheckBearerToken("", "tok-123");
  EXPECT_EQ(missing.code(), StatusCode::kUnauthenticated);
  EXPECT_TRUE(Contains(missing.message(), "Authorization: Bearer <token>"));

  const Status basic = CheckBearerToken("Basic dXNlcjpwYXNz", "tok-123");
  EXPECT_EQ(basic.code(), StatusCode::kUnauthenticated);
  EXPECT_TRUE(Contains(basic.message(), "must use the Bearer scheme"));

  const Status wrong = CheckBearerToken("Bearer guess-999", "tok-123");
  EXPECT_EQ(wrong.code(), StatusCode::kUnauthenticated);
  EXPECT_TRUE(Lacks(wrong.message(), "guess-999"));
  EXPECT_TRUE(Lacks(wrong.message(), "tok-123"));
  EXPECT_FALSE(CheckBearerToken("Bearer", "tok-123").ok());
  EXPECT_FALSE(CheckBearerToken("Bearer ", "tok-123").ok());
}

}  // namespace
}  // namespace mlship::serving::internal
