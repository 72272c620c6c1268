// Sequence batching: requests of different lengths padded into one batch
// with each input's pad value, every row answered with its own numbers and
// the sequence outputs cut back to its own length; bucketed batch keys; the
// signature's sequence block in JSON and its refusals.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "mlship/batching/batch.h"
#include "mlship/deployment/batch_execution.h"
#include "mlship/deployment/sequence_pad.h"
#include "mlship/engine/model.h"
#include "test_modules.h"

namespace mlship {
namespace {

using Result = StatusOr<std::vector<at::Tensor>>;

constexpr int64_t kPadId = 9;

// forward(ids, mask) = (total, count, scaled): total and count [N] sum the
// ids and the mask over the real positions only (so padding that the mask
// does not hide, or a mask padded with anything but 0, shows); scaled
// [N, L] is ids * mask * 2, cut back to each request's length.
torch::jit::Module MaskedModule() {
  torch::jit::Module m("Masked");
  m.define(R"(
def forward(self, ids: Tensor, mask: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    real = ids * mask
    return real.sum(1), mask.sum(1), real * 2
)");
  return m;
}

Signature MaskedSignature() {
  Signature sig;
  sig.inputs = {{"ids", DType::kInt64, {-1, -1}}, {"mask", DType::kInt64, {-1, -1}}};
  sig.outputs = {{"total", DType::kInt64, {-1}}, {"count", DType::kInt64, {-1}}, {"scaled", DType::kInt64, {-1, -1}}};
  sig.output_kind = OutputKind::kTuple;
  sig.sequence.dim = 1;
  sig.sequence.pad = {{"ids", static_cast<double>(kPadId)}};
  sig.sequence.bucket = 8;
  sig.sequence.max_length = 32;
  return sig;
}

std::shared_ptr<Model> LoadMasked() {
  LoadOptions options;
  options.signature = MaskedSignature();
  options.example_inputs = {torch::ones({1, 4}, torch::kInt64), torch::ones({1, 4}, torch::kInt64)};
  auto model = LoadModel(testing::SaveModule(MaskedModule(), "masked.pt"), options);
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  return model.ok() ? *model : nullptr;
}

// A request of `rows` rows of `length` ids, distinct per (seed, row, position).
std::vector<at::Tensor> Request(int64_t seed, int64_t rows, int64_t length) {
  at::Tensor ids = torch::arange(rows * length, torch::kInt64).reshape({rows, length}) + seed * 1000 + 1;
  return {ids, torch::ones({rows, length}, torch::kInt64)};
}

TEST(SequenceBatchingTest, PaddedRequestsOfThreeLengthsEachGetTheirOwnRowsCutBackToTheirLength) {
  std::shared_ptr<Model> model = LoadMasked();
  ASSERT_NE(model, nullptr);
  const Signature& sig = model->signature();
  ASSERT_TRUE(sig.sequence.enabled());
  const std::vector<std::pair<int64_t, int64_t>> shapes = {{2, 3}, {1, 7}, {3, 5}};  // rows, length
  std::vector<Result> answers(shapes.size(), Status::Internal("not answered"));
  Batch<TensorTask> batch("seq0|shared");
  std::vector<std::vector<at::Tensor>> sent;
  for (std::size_t t = 0; t < shapes.size(); ++t) {
    sent.push_back(Request(static_cast<int64_t>(t), shapes[t].first, shapes[t].second));
    auto task = std::make_unique<TensorTask>(sent.back(), "seq0|shared", shapes[t].first, shapes[t].first,
                                             TensorTask::TimePoint::max(), [&answers, t](Result r) {
                                               answers[t] = std::move(r);
                                             });
    ASSERT_TRUE(batch.AddTask(task).ok());
  }
  ASSERT_TRUE(RunBatch(*model, batch).ok());
  for (std::size_t t = 0; t < shapes.size(); ++t) {
    ASSERT_TRUE(answers[t].ok()) << answers[t].status().ToString();
    auto want = model->Run(sent[t]);  // the request alone, unpadded
    ASSERT_TRUE(want.ok());
    ASSERT_EQ(answers[t]->size(), 3u);
    for (int o = 0; o < 3; ++o) {
      EXPECT_EQ((*answers[t])[o].sizes(), (*want)[o].sizes()) << "task " << t << " output " << o;
      EXPECT_TRUE(torch::equal((*answers[t])[o], (*want)[o])) << "task " << t << " output " << o;
    }
    EXPECT_EQ((*answers[t])[1][0].item<int64_t>(), shapes[t].second) << "the mask was padded with 0";
  }
}

TEST(SequenceBatchingTest, PaddingUsesEachInputsPadValueAtTheEndOfTheSequenceDimension) {
  const Signature sig = MaskedSignature();
  std::vector<at::Tensor> padded = PadToLength(sig, Request(0, 1, 2), 4);
  static_assert(kPadId == 9);
  EXPECT_TRUE(torch::equal(padded[0], torch::tensor({{1, 2, 9, 9}}).to(torch::kInt64))) << padded[0];
  EXPECT_TRUE(torch::equal(padded[1], torch::tensor({{1, 1, 0, 0}}).to(torch::kInt64))) << padded[1];
  const std::vector<at::Tensor> full = Request(0, 1, 4);
  EXPECT_TRUE(PadToLength(sig, full, 4)[0].is_same(full[0])) << "nothing to pad: the input itself";
}

TEST(SequenceBatchingTest, LengthsInOneBucketShareAKeyOthersDoNotAndTooLongRunsAlone) {
  const Signature sig = MaskedSignature();  // buckets of 8: 1..8, 9..16, ...
  const auto key = [&](int64_t length) { return SequenceBatchKey(sig, Request(0, 1, length), length); };
  EXPECT_EQ(key(1), key(8));
  EXPECT_NE(key(8), key(9));
  EXPECT_EQ(key(9), key(16));
  EXPECT_EQ(SequenceKeyOrAlone(sig, Request(0, 1, 9)).value(), key(9));
  EXPECT_EQ(SequenceKeyOrAlone(sig, Request(0, 1, 32)).value(), key(32)) << "max_length itself is batched";
  EXPECT_EQ(SequenceKeyOrAlone(sig, Request(0, 1, 33)).value(), "") << "longer than max_length: alone";
  std::vector<at::Tensor> mismatched = {torch::ones({1, 3}, torch::kInt64), torch::ones({1, 4}, torch::kInt64)};
  const StatusOr<int64_t> length = SequenceLength(sig, mismatched);
  ASSERT_FALSE(length.ok());
  EXPECT_EQ(length.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(length.status().message().find("'ids' has 3 and 'mask' has 4"), std::string::npos)
      << length.status().message();
}

TEST(SequenceBatchingTest, TheSequenceBlockRoundTripsThroughJsonAndBadOnesAreRefused) {
  const Signature sig = MaskedSignature();
  StatusOr<Signature> back = Signature::FromJson(sig.ToJson());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, sig);
  const std::string inputs = R"("inputs":[{"name":"ids","datatype":"INT64","shape":[-1,16]}],"outputs":[])";
  StatusOr<Signature> fixed = Signature::FromJson("{" + inputs + R"(,"sequence":{"dim":1}})");
  ASSERT_FALSE(fixed.ok());
  EXPECT_NE(fixed.status().message().find("ids: INT64[-1, 16] is not"), std::string::npos)
      << fixed.status().message();
  const std::string dynamic = R"("inputs":[{"name":"ids","datatype":"INT64","shape":[-1,-1]}],"outputs":[])";
  StatusOr<Signature> unknown = Signature::FromJson("{" + dynamic + R"(,"sequence":{"dim":1,"pad":{"nope":0}}})");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("'nope'"), std::string::npos) << unknown.status().message();
  StatusOr<Signature> bucket = Signature::FromJson("{" + dynamic + R"(,"sequence":{"dim":1,"bucket":0}})");
  EXPECT_FALSE(bucket.ok());
}

}  // namespace
}  // namespace mlship
