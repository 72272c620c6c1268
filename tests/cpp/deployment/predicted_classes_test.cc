// Prediction drift through a Deployment: which models count as classifiers,
// argmax per row, the reference's class mix, and an alert when live
// predictions move away from it.
#include "mlship/deployment/predicted_classes.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <future>
#include <limits>

#include "mlship/deployment/deployment.h"
#include "test_modules.h"

namespace mlship {
namespace {

Signature Scores(DType dtype, std::vector<int64_t> out_shape, int inputs = 1) {
  Signature sig;
  for (int i = 0; i < inputs; ++i) sig.inputs.push_back({"x" + std::to_string(i), DType::kFloat32, {-1, 4}});
  sig.outputs.push_back({"y", dtype, std::move(out_shape)});
  return sig;
}

TEST(ClassifierClasses, AutoTakesOneFloatingOutputOfAtLeastTwoClasses) {
  EXPECT_EQ(ClassifierClasses(Scores(DType::kFloat32, {-1, 10}), std::nullopt).value(), 10);
  EXPECT_EQ(ClassifierClasses(Scores(DType::kFloat16, {-1, -1}), std::nullopt).value(), -1);
  EXPECT_EQ(ClassifierClasses(Scores(DType::kFloat32, {-1, 1}), std::nullopt).value(), 0);  // a score, not classes
  EXPECT_EQ(ClassifierClasses(Scores(DType::kFloat32, {-1}), std::nullopt).value(), 0);
  EXPECT_EQ(ClassifierClasses(Scores(DType::kInt64, {-1, 10}), std::nullopt).value(), 0);
  EXPECT_EQ(ClassifierClasses(Scores(DType::kFloat32, {-1, 10}, 2), std::nullopt).value(), 0);
  Signature two_outputs = Scores(DType::kFloat32, {-1, 10});
  two_outputs.outputs.push_back({"z", DType::kFloat32, {-1, 3}});
  EXPECT_EQ(ClassifierClasses(two_outputs, std::nullopt).value(), 0);
  EXPECT_EQ(ClassifierClasses(two_outputs, true).value(), 10) << "true watches the first output";
  EXPECT_EQ(ClassifierClasses(Scores(DType::kFloat32, {-1, 10}), false).value(), 0);
}

TEST(ClassifierClasses, TrueOnAModelThatIsNotOneSaysWhy) {
  Status refused = ClassifierClasses(Scores(DType::kFloat32, {-1, 1}), true).status();
  EXPECT_EQ(refused.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.message().find("y: FP32[-1, 1]"), std::string::npos) << refused.message();
  refused = ClassifierClasses(Scores(DType::kFloat32, {-1, 3}, 2), true).status();
  EXPECT_NE(refused.message().find("2 inputs"), std::string::npos) << refused.message();
}

TEST(PredictedClasses, IsTheArgmaxOfEachRow) {
  auto scores = torch::tensor({{0.1f, 0.7f, 0.2f}, {3.0f, -1.0f, 3.0f}, {0.0f, 0.0f, 5.0f}});
  EXPECT_EQ(PredictedClasses(scores).value(), (std::vector<int64_t>{1, 0, 2}));
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(PredictedClasses(torch::tensor({{nan, 1.0f, 2.0f}})).value(), std::vector<int64_t>{2});
  EXPECT_EQ(PredictedClasses(scores.to(torch::kHalf)).value(), (std::vector<int64_t>{1, 0, 2}));
  EXPECT_EQ(PredictedClasses(scores.to(torch::kDouble).t().contiguous().t()).value(),
            (std::vector<int64_t>{1, 0, 2}));
  EXPECT_EQ(PredictedClasses(torch::zeros({3})).status().code(), StatusCode::kInvalidArgument);
}

std::shared_ptr<Model> Affine() {
  LoadOptions options;
  options.example_inputs = {torch::zeros({1, 4})};
  auto model = LoadModel(testing::SaveModule(testing::AffineModule(), "affine.pt"), options);
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  return model.ok() ? *model : nullptr;
}

// Rows whose largest value is in column `hot`, so Affine (x * 2 + 1) predicts
// class `hot` for each.
at::Tensor RowsFavouring(int64_t rows, int64_t hot, uint64_t seed) {
  torch::manual_seed(seed);
  at::Tensor x = torch::rand({rows, 4});
  x.select(1, hot).add_(1.0);
  return x;
}

TEST(ReferenceClasses, CountsWhatTheModelPredictsInChunks) {
  auto model = Affine();
  at::Tensor reference = torch::cat({RowsFavouring(30, 0, 1), RowsFavouring(10, 3, 2)});
  auto profile = ReferenceClasses(*model, reference.to(torch::kDouble), std::nullopt, 7).value();
  ASSERT_TRUE(profile.has_value());
  EXPECT_EQ(profile->counts, (std::vector<int64_t>{30, 0, 0, 10}));
  EXPECT_FALSE(ReferenceClasses(*model, reference, false, 7).value().has_value());
}

TEST(DeploymentPredictionDrift, AShiftedClassMixRaisesOneAlert) {
  std::vector<monitor::AlertEvent> alerts;
  ServingOptions o;
  o.server.serve_http = false;
  o.version_options.batcher.max_batch_size = 16;
  o.server.workers.instances = 1;
  o.version_options.intra_op_threads = 1;
  o.version_options.monitor.drift.window_size = 400;
  o.version_options.monitor.drift.min_samples = 100;
  o.version_options.monitor.drift_check_interval = std::chrono::hours(1);  // checked by hand below
  o.version_options.monitor.log = [](const std::string&) {};
  // Feature drift alerts (the inputs shift too) are not what this test is about.
  o.version_options.monitor.on_alert = [&alerts](const monitor::AlertEvent& e) {
    if (e.kind == "prediction_drift") alerts.push_back(e);
  };
  auto dep = Deployment::Create(Affine(), o);
  ASSERT_TRUE(dep.ok()) << dep.status().ToString();
  monitor::ModelMonitor& m = *(*dep)->monitor();
  // The reference: classes 0 and 1 half each.
  ASSERT_TRUE((*dep)->SetReference(torch::cat({RowsFavouring(200, 0, 3), RowsFavouring(200, 1, 4)})).ok());
  EXPECT_EQ(m.reference_classes(), 4);
  auto send = [&](const at::Tensor& rows) {
    for (int64_t start = 0; start < rows.size(0); start += 10) {
      std::promise<StatusOr<std::vector<at::Tensor>>> answered;
      (*dep)->Submit({rows.slice(0, start, start + 10)}, TensorTask::TimePoint::max(),
                     [&answered](StatusOr<std::vector<at::Tensor>> r) { answered.set_value(std::move(r)); });
      ASSERT_TRUE(answered.get_future().get().ok());
    }
  };
  send(torch::cat({RowsFavouring(100, 0, 5), RowsFavouring(100, 1, 6)}).index_select(
      0, torch::randperm(200, torch::kLong)));
  m.CheckDrift();
  ASSERT_TRUE(m.LastPredictionDrift().has_value());
  EXPECT_EQ(m.LastPredictionDrift()->window_rows, 200);
  EXPECT_FALSE(m.LastPredictionDrift()->drifted);
  EXPECT_TRUE(alerts.empty());
  send(RowsFavouring(400, 3, 7));  // now everything is class 3
  m.CheckDrift();
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].kind, "prediction_drift");
  ASSERT_TRUE(alerts[0].prediction.has_value());
  EXPECT_EQ(alerts[0].prediction->live_shares, (std::vector<double>{0.0, 0.0, 0.0, 1.0}));
  EXPECT_EQ(alerts[0].prediction->reference_shares, (std::vector<double>{0.5, 0.5, 0.0, 0.0}));
}

TEST(DeploymentPredictionDrift, ClassifierTrueOnAModelWithoutClassScoresIsRefusedAtCreate) {
  LoadOptions options;
  options.example_inputs = {torch::zeros({1, 4}), torch::ones({1, 4})};
  auto dict = LoadModel(testing::SaveModule(testing::DictModule(), "dict.pt"), options);
  ASSERT_TRUE(dict.ok()) << dict.status().ToString();
  ServingOptions o;
  o.server.serve_http = false;
  o.version_options.monitor.classifier = true;
  auto dep = Deployment::Create(*dict, o);
  EXPECT_EQ(dep.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(dep.status().message().find("classifier=true"), std::string::npos) << dep.status().message();
  o.version_options.monitor.classifier = std::nullopt;
  EXPECT_TRUE(Deployment::Create(*dict, o).ok()) << "auto-detection leaves such a model unwatched";
}

}  // namespace
}  // namespace mlship
