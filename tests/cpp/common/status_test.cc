#include "mlship/status.h"

#include <gtest/gtest.h>

#include "mlship/engine/signature.h"

namespace mlship {
namespace {

TEST(StatusTest, DefaultIsOkAndCarriesNoMessage) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kOk);
  EXPECT_EQ(s.message(), "");
  EXPECT_EQ(s.ToString(), "ok");
}

TEST(StatusTest, NamedConstructorsSetCodeAndMessage) {
  Status s = Status::InvalidArgument("max_batch_size must be positive; was 0");
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(s.IsInvalidArgument());
  EXPECT_EQ(s.ToString(), "invalid_argument: max_batch_size must be positive; was 0");
}

TEST(StatusTest, CodesMapToHttpStatuses) {
  EXPECT_EQ(HttpStatusFor(StatusCode::kInvalidArgument), 400);
  EXPECT_EQ(HttpStatusFor(StatusCode::kNotFound), 404);
  EXPECT_EQ(HttpStatusFor(StatusCode::kUnavailable), 503);
  EXPECT_EQ(HttpStatusFor(StatusCode::kDeadlineExceeded), 504);
  EXPECT_EQ(HttpStatusFor(StatusCode::kUnauthenticated), 401);
  EXPECT_EQ(HttpStatusFor(StatusCode::kResourceExhausted), 413);
}

StatusOr<int> Half(int x) {
  if (x % 2 != 0) return Status::InvalidArgument("expected an even number; got " + std::to_string(x));
  return x / 2;
}

StatusOr<int> Quarter(int x) {
  ASSIGN_OR_RETURN(int half, Half(x));
  ASSIGN_OR_RETURN(int quarter, Half(half));
  return quarter;
}

TEST(StatusTest, AssignOrReturnPropagatesTheFirstError) {
  EXPECT_EQ(*Quarter(8), 2);
  auto bad = Quarter(6);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "expected an even number; got 3");
}

TEST(SignatureTest, RoundTripsThroughJson) {
  Signature sig;
  sig.inputs = {{"x", DType::kFloat32, {-1, 64}}, {"mask", DType::kBool, {-1, 8}}};
  sig.outputs = {{"logits", DType::kFloat32, {-1, 10}}};
  sig.output_kind = OutputKind::kDict;
  auto back = Signature::FromJson(sig.ToJson());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, sig);
  EXPECT_TRUE(back->batchable());
}

TEST(SignatureTest, RejectsUnknownDatatypeNamingTheSupportedOnes) {
  auto bad = Signature::FromJson(R"({"inputs":[{"name":"x","datatype":"FP7","shape":[-1]}],"outputs":[]})");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("FP7"), std::string::npos);
  EXPECT_NE(bad.status().message().find("FP32"), std::string::npos);
}

TEST(SignatureTest, RejectsMalformedJson) {
  EXPECT_FALSE(Signature::FromJson("{").ok());
  EXPECT_FALSE(Signature::FromJson("[]").ok());
  EXPECT_FALSE(Signature::FromJson(R"({"inputs":[{"name":"x","datatype":"FP32","shape":[-2]}],"outputs":[]})").ok());
  std::string deep(100, '[');
  EXPECT_FALSE(Signature::FromJson(deep).ok());
}

TEST(SignatureTest, FixedBatchDimensionIsNotBatchable) {
  Signature sig;
  sig.inputs = {{"x", DType::kFloat32, {4, 64}}};
  EXPECT_FALSE(sig.batchable());
}

}  // namespace
}  // namespace mlship
