// The repository on disk: layout, crash-safe adds, verification, names,
// aliases and removal, without a model or torch.
#include "mlship/repository/repository.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "mlship/repository/names.h"
#include "mlship/repository/sha256.h"

namespace mlship::repository {
namespace {

namespace fs = std::filesystem;

bool Contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

class RepositoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("mlship-repo-" + std::to_string(::getpid()) + "-" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    repo_ = Repository::Open(root_.string(), /*create=*/true).value();
    model_ = Write("source-model.pt", "not really torchscript, but bytes to hash");
  }
  void TearDown() override { fs::remove_all(root_); }

  std::string Write(const std::string& name, const std::string& bytes) {
    const fs::path path = root_.parent_path() / (root_.filename().string() + "-" + name);
    std::ofstream(path, std::ios::binary) << bytes;
    return path.string();
  }
  AddRequest Request(const std::string& name = "digits") const {
    AddRequest r;
    r.name = name;
    r.model_path = model_;
    return r;
  }

  fs::path root_;
  std::optional<Repository> repo_;
  std::string model_;
};

TEST_F(RepositoryTest, AddsNumberedVersionsWithHashesAndFindsThemAgain) {
  auto first = repo_->Add(Request());
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->version, "1");
  EXPECT_EQ(first->files.at("model.pt").sha256, Sha256Hex("not really torchscript, but bytes to hash"));
  EXPECT_EQ(repo_->Add(Request())->version, "2");
  AddRequest named = Request();
  named.version = "10";
  ASSERT_TRUE(repo_->Add(named).ok());
  EXPECT_EQ(repo_->Add(Request())->version, "11") << "the next integer after the largest";
  EXPECT_EQ(repo_->Versions("digits").value(), (std::vector<std::string>{"1", "2", "10", "11"}));
  EXPECT_EQ(repo_->Models(), (std::vector<std::string>{"digits"}));
  auto record = repo_->Get("digits", "2");
  ASSERT_TRUE(record.ok()) << record.status().ToString();
  EXPECT_EQ(record->manifest.version, "2");
  EXPECT_TRUE(fs::exists(record->PathOf("model.pt")));
  EXPECT_FALSE(record->manifest.created.empty());
}

TEST_F(RepositoryTest, AnExistingVersionIsNeverOverwritten) {
  AddRequest r = Request();
  r.version = "1";
  ASSERT_TRUE(repo_->Add(r).ok());
  auto again = repo_->Add(r);
  EXPECT_EQ(again.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(Contains(again.status().message(), "never overwritten"));
}

TEST_F(RepositoryTest, ATamperedOrMissingFileIsRefusedNamingIt) {
  ASSERT_TRUE(repo_->Add(Request()).ok());
  const fs::path file = root_ / "digits" / "1" / "model.pt";
  std::ofstream(file, std::ios::binary | std::ios::app) << "x";
  auto tampered = repo_->Get("digits", "1");
  EXPECT_EQ(tampered.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(Contains(tampered.status().message(), file.string())) << tampered.status().message();
  // Same size, other bytes: the hash catches it.
  ASSERT_TRUE(repo_->Add(Request()).ok());
  const fs::path second = root_ / "digits" / "2" / "model.pt";
  std::string bytes = "not really torchscript, but bytes to hash";
  bytes[0] = 'N';
  std::ofstream(second, std::ios::binary | std::ios::trunc) << bytes;
  EXPECT_TRUE(Contains(repo_->Get("digits", "2").status().message(), "sha256"));
  fs::remove(second);
  EXPECT_TRUE(Contains(repo_->Get("digits", "2").status().message(), "does not exist"));
  EXPECT_TRUE(repo_->Get("digits", "2", /*verify=*/false).ok()) << "the manifest itself still reads";
  auto checks = repo_->Verify();
  ASSERT_EQ(checks.size(), 2u);
  EXPECT_FALSE(checks[0].problems.empty());
  EXPECT_FALSE(checks[1].problems.empty());
}

TEST_F(RepositoryTest, AManifestThatDoesNotParseOrDescribesAnotherVersionIsRefused) {
  ASSERT_TRUE(repo_->Add(Request()).ok());
  ASSERT_TRUE(repo_->Add(Request()).ok());
  const fs::path manifest = root_ / "digits" / "1" / "mlship.json";
  std::ofstream(manifest, std::ios::trunc) << "{not json";
  auto broken = repo_->Get("digits", "1");
  EXPECT_EQ(broken.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(broken.status().message(), manifest.string())) << broken.status().message();
  // Version 2's manifest copied into a folder named 3.
  fs::create_directory(root_ / "digits" / "3");
  fs::copy_file(root_ / "digits" / "2" / "mlship.json", root_ / "digits" / "3" / "mlship.json");
  EXPECT_TRUE(Contains(repo_->Get("digits", "3").status().message(), "not the folder it is in"));
  // A file path in a manifest cannot leave the version folder.
  std::ofstream(root_ / "digits" / "2" / "mlship.json", std::ios::trunc)
      << R"({"mlship_manifest": 1, "name": "digits", "version": "2", "model": "../1/model.pt",
            "files": {"../1/model.pt": {"sha256": ")"
      << std::string(64, 'a') << R"(", "bytes": 1}}})";
  EXPECT_EQ(repo_->Get("digits", "2").status().code(), StatusCode::kInvalidArgument);
}

TEST_F(RepositoryTest, NamesThatCouldLeaveTheRootAreRefused) {
  for (const char* bad : {"..", ".", "../etc", "a/b", "", ".hidden", "-flag", "mlship-model", "x y", "caf\xc3\xa9"}) {
    AddRequest r = Request(bad);
    EXPECT_EQ(repo_->Add(r).status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(repo_->Get(bad, "1").status().code(), StatusCode::kInvalidArgument) << bad;
  }
  AddRequest r = Request();
  r.version = "../2";
  EXPECT_EQ(repo_->Add(r).status().code(), StatusCode::kInvalidArgument);
  r = Request();
  r.files["../outside.npy"] = model_;
  EXPECT_EQ(repo_->Add(r).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(repo_->Get("digits", "../../etc").status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(repo_->Models().empty());
}

TEST_F(RepositoryTest, SymbolicLinksAreNotFollowed) {
  ASSERT_TRUE(repo_->Add(Request()).ok());
  const fs::path file = root_ / "digits" / "1" / "model.pt";
  fs::remove(file);
  fs::create_symlink(model_, file);  // same bytes, but outside the repository
  auto linked = repo_->Get("digits", "1");
  EXPECT_FALSE(linked.ok());
  EXPECT_TRUE(Contains(linked.status().message(), "symbolic link")) << linked.status().message();
}

TEST_F(RepositoryTest, AFailedAddLeavesNoVersionAndNoStagingFolder) {
  AddRequest r = Request();
  r.files["golden/input_0.npy"] = Write("input.npy", "input");
  r.files["golden/output_0.npy"] = (root_.parent_path() / "no-such-file.npy").string();  // fails after a copy
  auto failed = repo_->Add(r);
  EXPECT_EQ(failed.status().code(), StatusCode::kNotFound) << failed.status().ToString();
  EXPECT_TRUE(Contains(failed.status().message(), "golden/output_0.npy"));
  EXPECT_TRUE(repo_->Versions("digits").value().empty());
  for (const auto& entry : fs::directory_iterator(root_ / "digits")) {
    ADD_FAILURE() << "left behind: " << entry.path();
  }
  // A staging folder left by a crash is not a version.
  fs::create_directories(root_ / "digits" / ".staging-crashed" / "sub");
  std::ofstream(root_ / "digits" / ".staging-crashed" / "mlship.json") << "{}";
  EXPECT_TRUE(repo_->Versions("digits").value().empty());
  EXPECT_EQ(repo_->Add(Request())->version, "1");
}

TEST_F(RepositoryTest, AliasesPointAtVersionsAndPinThemAgainstRemoval) {
  ASSERT_TRUE(repo_->Add(Request()).ok());
  AddRequest r = Request();
  r.aliases = {"canary"};
  ASSERT_TRUE(repo_->Add(r).ok());
  EXPECT_EQ(repo_->Config("digits")->aliases.at("canary"), "2");
  ASSERT_TRUE(repo_->SetAlias("digits", "stable", "1").ok());
  EXPECT_EQ(repo_->Get("digits", "stable")->manifest.version, "1");
  EXPECT_EQ(repo_->SetAlias("digits", "stable", "9").code(), StatusCode::kNotFound);
  EXPECT_EQ(repo_->SetAlias("digits", "2", "1").code(), StatusCode::kInvalidArgument) << "an alias may not hide a version";
  auto pinned = repo_->Remove("digits", "1");
  EXPECT_EQ(pinned.code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(Contains(pinned.message(), "stable"));
  ASSERT_TRUE(repo_->SetAlias("digits", "stable", "2").ok());
  ASSERT_TRUE(repo_->Remove("digits", "1").ok());
  EXPECT_EQ(repo_->Versions("digits").value(), (std::vector<std::string>{"2"}));
  ASSERT_TRUE(repo_->Remove("digits", "2", /*force=*/true).ok());
  EXPECT_TRUE(repo_->Config("digits")->aliases.empty());
  ASSERT_TRUE(repo_->Remove("digits", "").ok());
  EXPECT_TRUE(repo_->Models().empty());
}

TEST_F(RepositoryTest, ManifestsRoundTripEveryField) {
  AddRequest r = Request();
  r.files["reference.npy"] = Write("ref.npy", "ref");
  r.files["golden/input_0.npy"] = Write("in.npy", "in");
  r.files["golden/output_0.npy"] = Write("out.npy", "out");
  r.reference = "reference.npy";
  r.golden = GoldenRecord{{"golden/input_0.npy"}, {"golden/output_0.npy"}, 1e-4, std::nullopt};
  r.labels = {{"team", "vision"}};
  r.metadata = boost::json::object{{"accuracy", 0.97}, {"git_commit", "abc123"}};
  r.settings = boost::json::object{{"max_batch_size", 16}};
  Signature sig;
  sig.inputs = {TensorSpec{"x", DType::kFloat32, {-1, 64}}};
  sig.outputs = {TensorSpec{"y", DType::kFloat32, {-1, 10}}};
  r.signature = sig;
  ASSERT_TRUE(repo_->Add(r).ok());
  auto back = repo_->Get("digits", "1");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  const Manifest& m = back->manifest;
  EXPECT_EQ(m.files.size(), 4u);
  EXPECT_EQ(m.reference, "reference.npy");
  ASSERT_TRUE(m.golden.has_value());
  EXPECT_EQ(m.golden->rtol, std::optional<double>(1e-4));
  EXPECT_FALSE(m.golden->atol.has_value());
  EXPECT_EQ(m.labels.at("team"), "vision");
  EXPECT_EQ(m.metadata.at("git_commit").as_string(), "abc123");
  EXPECT_EQ(m.settings.at("max_batch_size").as_int64(), 16);
  ASSERT_TRUE(m.signature.has_value());
  EXPECT_EQ(*m.signature, sig);
  auto reparsed = Manifest::Parse(m.ToJson(), "again");
  ASSERT_TRUE(reparsed.ok());
  EXPECT_EQ(reparsed->ToJson(), m.ToJson());
}

TEST(VersionOrder, ReadsNumbersAsNumbers) {
  EXPECT_LT(CompareVersions("2", "10"), 0);
  EXPECT_LT(CompareVersions("1.9", "1.10"), 0);
  EXPECT_EQ(CompareVersions("007", "7"), 0);
  EXPECT_LT(CompareVersions("9", "fallback"), 0) << "numbers before text";
  EXPECT_LT(CompareVersions("v1", "v2"), 0);
  EXPECT_GT(CompareVersions("1.0.1", "1.0"), 0);
}

}  // namespace
}  // namespace mlship::repository
