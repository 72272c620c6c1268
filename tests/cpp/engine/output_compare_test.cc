// CompareOutputs and DefaultTolerance: the golden-output comparison shared by the
// repository's check and the pytest plugin.
#include "mlship/engine/output_compare.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>

namespace mlship {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

TEST(OutputCompareTest, IdenticalTensorsAreOkWithNoWorstElement) {
  at::Tensor x = torch::randn({4, 10});
  OutputComparison r = CompareOutputs(x, x.clone(), Tolerance{});
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.total, 40);
  EXPECT_EQ(r.mismatched, 0);
  EXPECT_EQ(r.max_abs_diff, 0.0);
  EXPECT_EQ(r.max_rel_diff, 0.0);
  EXPECT_TRUE(r.worst_index.empty());
  EXPECT_EQ(r.message, "");
}

TEST(OutputCompareTest, DifferencesWithinToleranceAreOkAndStillReportTheLargest) {
  at::Tensor expected = torch::ones({2, 3});
  at::Tensor actual = expected.clone();
  actual[1][2] = 1.0f + 5e-6f;  // allowed: 1e-6 + 1e-5 * 1
  OutputComparison r = CompareOutputs(actual, expected, Tolerance{});
  EXPECT_TRUE(r.ok) << r.message;
  EXPECT_EQ(r.mismatched, 0);
  EXPECT_NEAR(r.max_abs_diff, 5e-6, 1e-7);
  EXPECT_EQ(r.worst_index, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(r.message, "");
}

TEST(OutputCompareTest, CountsMismatchesAndNamesTheWorstInTheMessage) {
  at::Tensor expected = torch::zeros({4, 160}, torch::kFloat64);
  at::Tensor actual = expected.clone();
  expected[2][7] = 0.498;
  actual[2][7] = 0.513;
  actual[0][0] = 0.002;
  actual[3][100] = -0.01;
  OutputComparison r = CompareOutputs(actual, expected, Tolerance{0.01, 0.001});
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.total, 640);
  EXPECT_EQ(r.mismatched, 3);
  EXPECT_EQ(r.worst_index, (std::vector<int64_t>{2, 7}));
  EXPECT_DOUBLE_EQ(r.worst_actual, 0.513);
  EXPECT_DOUBLE_EQ(r.worst_expected, 0.498);
  EXPECT_NEAR(r.max_abs_diff, 0.015, 1e-12);
  EXPECT_EQ(r.message, "3 of 640 elements differ; worst at [2, 7]: 0.513 vs 0.498 (|diff| 0.015 > 0.00598)");
}

TEST(OutputCompareTest, WorstIsChosenAmongMismatchedElementsNotByAbsoluteDiffAlone) {
  // [0] differs by 0.5 but is within rtol of 100; [1] differs by 0.1 and is not.
  at::Tensor expected = torch::tensor({100.0, 0.0}, torch::kFloat64);
  at::Tensor actual = torch::tensor({100.5, 0.1}, torch::kFloat64);
  OutputComparison r = CompareOutputs(actual, expected, Tolerance{0.01, 0.0});
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.mismatched, 1);
  EXPECT_EQ(r.worst_index, (std::vector<int64_t>{1}));
  EXPECT_DOUBLE_EQ(r.max_abs_diff, 0.5);
  EXPECT_EQ(r.max_rel_diff, kInf);  // 0.1 against an expected 0
  EXPECT_NE(r.message.find("1 of 2 elements differs"), std::string::npos) << r.message;
}

TEST(OutputCompareTest, ToleranceIsRelativeToTheExpectedValue) {
  // |a - e| <= atol + rtol * |e|: asymmetric, as numpy.isclose.
  at::Tensor a = torch::tensor({1.0}, torch::kFloat64);
  at::Tensor e = torch::tensor({2.0}, torch::kFloat64);
  EXPECT_TRUE(CompareOutputs(a, e, Tolerance{0.5, 0.0}).ok);   // 1 <= 0.5 * 2
  EXPECT_FALSE(CompareOutputs(e, a, Tolerance{0.5, 0.0}).ok);  // 1 > 0.5 * 1
}

TEST(OutputCompareTest, NanEqualsNanButNotANumber) {
  at::Tensor e = torch::tensor({kNaN, 1.0, kNaN}, torch::kFloat64);
  at::Tensor a = torch::tensor({kNaN, 1.0, 0.5}, torch::kFloat64);
  OutputComparison r = CompareOutputs(a, e, Tolerance{});
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.mismatched, 1);
  EXPECT_EQ(r.worst_index, (std::vector<int64_t>{2}));
  EXPECT_EQ(r.max_abs_diff, kInf);
  EXPECT_TRUE(std::isnan(r.worst_expected));
  EXPECT_NE(r.message.find("0.5 vs nan (NaN equals only NaN)"), std::string::npos) << r.message;
  EXPECT_TRUE(CompareOutputs(e, e.clone(), Tolerance{}).ok);
}

TEST(OutputCompareTest, InfinityEqualsOnlyTheSameInfinityEvenWithALargeRtol) {
  at::Tensor e = torch::tensor({kInf, -kInf, kInf}, torch::kFloat32);
  EXPECT_TRUE(CompareOutputs(e.clone(), e, Tolerance{}).ok);
  at::Tensor a = torch::tensor({kInf, kInf, 1e30}, torch::kFloat32);
  OutputComparison r = CompareOutputs(a, e, Tolerance{10.0, 10.0});
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.mismatched, 2);
  EXPECT_EQ(r.worst_index, (std::vector<int64_t>{1}));  // ties at inf: the first
  EXPECT_EQ(r.max_rel_diff, kInf);
}

TEST(OutputCompareTest, ShapeMismatchIsNamedAndNothingIsCompared) {
  OutputComparison r = CompareOutputs(torch::zeros({4, 10}), torch::zeros({4, 3}), Tolerance{});
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.total, 0);
  EXPECT_EQ(r.message, "shapes differ: actual [4, 10], expected [4, 3]");
}

TEST(OutputCompareTest, DtypeMismatchIsNamedEvenWhenValuesAgree) {
  OutputComparison r = CompareOutputs(torch::zeros({3}, torch::kFloat64), torch::zeros({3}), Tolerance{});
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.message, "dtypes differ: actual FP64, expected FP32");
  OutputComparison both = CompareOutputs(torch::zeros({2}, torch::kInt64), torch::zeros({3}), Tolerance{});
  EXPECT_EQ(both.message, "dtypes differ: actual INT64, expected FP32; shapes differ: actual [2], expected [3]");
}

TEST(OutputCompareTest, UnsupportedDtypeAndUndefinedTensorsAreReportedNotThrown) {
  at::Tensor c = torch::zeros({2}, torch::kComplexFloat);
  OutputComparison r = CompareOutputs(c, c, Tolerance{});
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.message.find("actual: tensor dtype"), std::string::npos) << r.message;
  OutputComparison u = CompareOutputs(at::Tensor(), torch::zeros({2}), Tolerance{});
  EXPECT_FALSE(u.ok);
  EXPECT_EQ(u.message, "cannot compare: actual is an undefined tensor");
}

TEST(OutputCompareTest, InvalidToleranceIsRejectedWithTheValue) {
  at::Tensor x = torch::zeros({2});
  OutputComparison r = CompareOutputs(x, x, Tolerance{-1.0, 0.0});
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.message, "invalid tolerance: rtol must be a finite number >= 0; was -1");
  EXPECT_FALSE(CompareOutputs(x, x, Tolerance{0.0, kNaN}).ok);
  EXPECT_TRUE(ValidateTolerance(Tolerance{0.0, 0.0}).ok());
  EXPECT_TRUE(ValidateTolerance(Tolerance{1e-5, 1e-6}).ok());
  EXPECT_TRUE(ValidateTolerance(Tolerance{0.0, kInf}).IsInvalidArgument());
}

TEST(OutputCompareTest, IntegersWithZeroToleranceCompareExactlyBeyondDoublePrecision) {
  // 2^53 and 2^53 + 1 are the same double; as int64 they differ.
  const int64_t big = int64_t{1} << 53;
  at::Tensor e = torch::tensor({big, int64_t{7}}, torch::kInt64);
  at::Tensor a = torch::tensor({big + 1, int64_t{7}}, torch::kInt64);
  OutputComparison r = CompareOutputs(a, e, DefaultTolerance(DType::kInt64));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.mismatched, 1);
  EXPECT_EQ(r.worst_index, (std::vector<int64_t>{0}));
  EXPECT_GE(r.max_abs_diff, 1.0);  // distinct integers differ by at least 1
}

TEST(OutputCompareTest, ClassIndicesAndMasksCompareExactly) {
  at::Tensor labels = torch::tensor({3, 1, 4, 1, 5}, torch::kInt64);
  at::Tensor moved = labels.clone();
  moved[4] = 6;
  EXPECT_TRUE(CompareOutputs(labels, labels.clone(), DefaultTolerance(DType::kInt64)).ok);
  OutputComparison r = CompareOutputs(moved, labels, DefaultTolerance(DType::kInt64));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.message, "1 of 5 elements differs; worst at [4]: 6 vs 5 (|diff| 1 > 0)");
  at::Tensor mask = torch::tensor({true, false});
  OutputComparison m = CompareOutputs(mask.logical_not(), mask, DefaultTolerance(DType::kBool));
  EXPECT_EQ(m.mismatched, 2);
}

TEST(OutputCompareTest, HalfPrecisionDefaultsAbsorbRoundingThatFloat32DefaultsWouldNot) {
  at::Tensor reference = torch::linspace(-3, 3, 101, torch::kFloat64);
  for (auto [type, dtype] : {std::pair{torch::kHalf, DType::kFloat16}, std::pair{torch::kBFloat16, DType::kBFloat16}}) {
    // The same values computed at half precision and at double, both stored in the half type,
    // after one extra rounding step (x * 3 / 3) in the half type.
    at::Tensor expected = reference.to(type);
    at::Tensor actual = (expected * 3 / 3).to(type);
    EXPECT_TRUE(CompareOutputs(actual, expected, DefaultTolerance(dtype)).ok) << DTypeName(dtype);
    OutputComparison strict = CompareOutputs(actual, expected, DefaultTolerance(DType::kFloat32));
    EXPECT_FALSE(strict.ok) << DTypeName(dtype) << ": one rounding step should exceed float32's tolerance";
  }
}

TEST(OutputCompareTest, DefaultTolerancesFollowTheDocumentedTable) {
  EXPECT_EQ(DefaultTolerance(DType::kFloat32).rtol, 1e-5);
  EXPECT_EQ(DefaultTolerance(DType::kFloat32).atol, 1e-6);
  EXPECT_LE(DefaultTolerance(DType::kFloat64).rtol, 1e-5);
  EXPECT_EQ(DefaultTolerance(DType::kFloat16).rtol, 1e-3);
  EXPECT_EQ(DefaultTolerance(DType::kFloat16).atol, 1e-3);
  EXPECT_EQ(DefaultTolerance(DType::kBFloat16).rtol, 1e-2);
  EXPECT_EQ(DefaultTolerance(DType::kBFloat16).atol, 1e-2);
  for (DType exact : {DType::kBool, DType::kInt8, DType::kInt32, DType::kInt64, DType::kUInt8, DType::kUInt64}) {
    EXPECT_EQ(DefaultTolerance(exact).rtol, 0.0) << DTypeName(exact);
    EXPECT_EQ(DefaultTolerance(exact).atol, 0.0) << DTypeName(exact);
  }
}

TEST(OutputCompareTest, NonContiguousAndEmptyTensorsCompare) {
  at::Tensor x = torch::randn({3, 5});
  OutputComparison t = CompareOutputs(x.t(), x.t().contiguous(), Tolerance{});
  EXPECT_TRUE(t.ok) << t.message;
  EXPECT_EQ(t.total, 15);
  at::Tensor shifted = x.t().contiguous();
  shifted[4][1] += 1.0;
  OutputComparison s = CompareOutputs(x.t(), shifted, Tolerance{});
  EXPECT_EQ(s.worst_index, (std::vector<int64_t>{4, 1}));
  OutputComparison empty = CompareOutputs(torch::zeros({0, 4}), torch::zeros({0, 4}), Tolerance{});
  EXPECT_TRUE(empty.ok);
  EXPECT_EQ(empty.total, 0);
}

}  // namespace
}  // namespace mlship
