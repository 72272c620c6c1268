// Telling model files apart by content, and refusing what is not a model.
#include "mlship/engine/model_file.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>

#include "test_modules.h"

namespace mlship {
namespace {

std::string WriteFile(const std::string& name, const std::string& bytes) {
  std::string path = testing::TempPath(name);
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

void ExpectLoadFailure(const std::string& path, const std::string& fragment) {
  auto format = DetectModelFormat(path);
  ASSERT_FALSE(format.ok()) << path;
  EXPECT_EQ(format.status().code(), StatusCode::kModelLoadFailed);
  EXPECT_NE(format.status().message().find(fragment), std::string::npos) << format.status().message();
  EXPECT_NE(format.status().message().find(path), std::string::npos) << "the message names the path";
  auto model = LoadModel(path, LoadOptions{});
  EXPECT_FALSE(model.ok());
}

TEST(ModelFileTest, TorchScriptIsRecognizedWhateverTheName) {
  std::string path = testing::SaveModule(testing::AffineModule(), "model.bin");
  auto format = DetectModelFormat(path);
  ASSERT_TRUE(format.ok()) << format.status().ToString();
  EXPECT_EQ(*format, ModelFormat::kTorchScript);
}

TEST(ModelFileTest, MissingFile) { ExpectLoadFailure(testing::TempPath("absent.pt"), "no such file"); }

TEST(ModelFileTest, Directory) {
  std::string dir = testing::TempPath("a-dir");
  std::filesystem::create_directories(dir);
  ExpectLoadFailure(dir, "is a directory");
}

TEST(ModelFileTest, EmptyFile) { ExpectLoadFailure(WriteFile("empty.pt", ""), "the file is empty"); }

TEST(ModelFileTest, GarbageIsNotAnArchive) {
  ExpectLoadFailure(WriteFile("garbage.pt", std::string(1000, 'x')), "not a TorchScript file or .pt2 package");
}

TEST(ModelFileTest, LegacyPickleIsRefusedWithoutUnpickling) {
  ExpectLoadFailure(WriteFile("legacy.pt", std::string("\x80\x02}q\x00.", 6)), "legacy pickle");
}

TEST(ModelFileTest, TruncatedArchive) {
  std::string good = testing::SaveModule(testing::AffineModule(), "good.pt");
  std::ifstream in(good, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::string cut = WriteFile("cut.pt", bytes.substr(0, bytes.size() / 2));
  auto model = LoadModel(cut, LoadOptions{});
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), StatusCode::kModelLoadFailed);
  EXPECT_NE(model.status().message().find(cut), std::string::npos);
}

TEST(ModelFileTest, BytesAreDetectedToo) {
  std::string good = testing::SaveModule(testing::AffineModule(), "good.pt");
  std::ifstream in(good, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto format = DetectModelFormatFromBytes(bytes, "<memory>");
  ASSERT_TRUE(format.ok());
  EXPECT_EQ(*format, ModelFormat::kTorchScript);
  EXPECT_FALSE(DetectModelFormatFromBytes("", "<memory>").ok());
  LoadOptions options;
  options.example_inputs = {torch::zeros({1, 4})};
  auto model = LoadTorchScriptFromBytes(bytes, options);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  EXPECT_EQ((*model)->source(), "<in-memory TorchScript>");
}

}  // namespace
}  // namespace mlship
