// FeatureImportance: running means, the reference beside them, the shift.
#include "mlship/monitor/feature_importance.h"

#include <gtest/gtest.h>

namespace mlship::monitor {
namespace {

TEST(FeatureImportanceTest, KeepsTheMeanAbsoluteAttributionPerFeature) {
  FeatureImportance f(3);
  const float a[] = {1, -2, 0};
  const float b[] = {3, 2, 0};
  f.Add(a);
  f.Add(b);
  auto s = f.Get();
  EXPECT_EQ(s.rows, 2);
  EXPECT_EQ(s.live, (std::vector<double>{2, 2, 0}));
  EXPECT_TRUE(s.reference.empty());
  EXPECT_EQ(s.shift, -1);  // no reference yet
}

TEST(FeatureImportanceTest, ShiftIsTheShareOfImportanceThatMoved) {
  EXPECT_DOUBLE_EQ(FeatureImportance::Shift({1, 1}, {2, 2}), 0.0);  // same shares, any scale
  EXPECT_DOUBLE_EQ(FeatureImportance::Shift({1, 0}, {0, 1}), 1.0);  // entirely different features
  EXPECT_DOUBLE_EQ(FeatureImportance::Shift({3, 1}, {1, 1}), 0.25);
  EXPECT_EQ(FeatureImportance::Shift({0, 0}, {1, 1}), -1);  // nothing to compare
  FeatureImportance f(2);
  const float row[] = {3, 1};
  f.Add(row);
  f.SetReference({1, 1}, 64);
  auto s = f.Get();
  EXPECT_DOUBLE_EQ(s.shift, 0.25);
  EXPECT_EQ(s.reference_rows, 64);
  f.SetReference({1, 1, 1}, 5);  // the wrong width is ignored
  EXPECT_EQ(f.Get().reference_rows, 64);
}

TEST(FeatureImportanceTest, JsonNamesTheFeatures) {
  FeatureImportance f(2);
  EXPECT_EQ(f.ToJson({"a", "b"}),
            "{\"rows\":0,\"reference_rows\":0,\"shift\":null,\"features\":[{\"feature\":\"a\",\"live\":null,"
            "\"reference\":null},{\"feature\":\"b\",\"live\":null,\"reference\":null}]}");
  const float row[] = {0.5, 1};
  f.Add(row);
  f.SetReference({1, 1}, 3);
  EXPECT_EQ(f.ToJson({"a", "b"}),
            "{\"rows\":1,\"reference_rows\":3,\"shift\":0.16666666666666666,\"features\":[{\"feature\":\"a\","
            "\"live\":0.5,\"reference\":1},{\"feature\":\"b\",\"live\":1,\"reference\":1}]}");
}

}  // namespace
}  // namespace mlship::monitor
