// The audit log as a unit: its JSON lines, escaping, rotation and the
// bounded queue that drops (and counts) instead of growing.
#include "audit_log.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <boost/json.hpp>

namespace mlship::serving::internal {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

// 2026-12-02T15:45:06.123Z.
std::chrono::system_clock::time_point FixedTime() {
  using namespace std::chrono;
  return sys_days{year{2026} / 12 / 2} + hours(15) + minutes(45) + seconds(6) + milliseconds(123);
}

std::vector<std::string> ReadLines(const fs::path& path) {
  std::vector<std::string> lines;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

json::object ParseLine(const std::string& line) {
  boost::system::error_code ec;
  json::value v = json::parse(line, ec);
  EXPECT_FALSE(ec) << line;
  EXPECT_TRUE(v.is_object()) << line;
  return v.is_object() ? v.get_object() : json::object();
}

AuditEvent Event(int n) {
  AuditEvent e;
  e.remote = "127.0.0.1:40000";
  e.who = "admin_token";
  e.action = "repository.load";
  e.method = "POST";
  e.path = "/v2/repository/models/m" + std::to_string(n) + "/load";
  e.status = 200;
  e.detail = "event " + std::to_string(n);
  return e;
}

class AuditLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("mlship_audit_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = dir_ / "audit.log";
  }
  void TearDown() override { fs::remove_all(dir_); }

  AuditLogOptions Options() const {
    AuditLogOptions options;
    options.path = path_.string();
    options.now = FixedTime;
    return options;
  }

  fs::path dir_;
  fs::path path_;
};

TEST(Iso8601UtcTest, WritesUtcWithMilliseconds) { EXPECT_EQ(Iso8601Utc(FixedTime()), "2026-12-02T15:45:06.123Z"); }

TEST(LogSafeTest, EscapesControlAndNonAsciiBytesAndBoundsTheLength) {
  EXPECT_EQ(LogSafe("/v2/models/a\r\nb", 100), "/v2/models/a%0D%0Ab");
  EXPECT_EQ(LogSafe("caf\xc3\xa9", 100), "caf%C3%A9");
  EXPECT_EQ(LogSafe(std::string(300, 'x'), 10), std::string(10, 'x') + "...");
}

TEST_F(AuditLogTest, EachEventIsOneJsonObjectWithEveryField) {
  auto log = AuditLog::Open(Options());
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  (*log)->Start();
  (*log)->Record(Event(1));
  (*log)->Stop();
  const std::vector<std::string> lines = ReadLines(path_);
  ASSERT_EQ(lines.size(), 1u);
  const json::object row = ParseLine(lines[0]);
  EXPECT_EQ(row.at("time"), "2026-12-02T15:45:06.123Z");
  EXPECT_EQ(row.at("remote"), "127.0.0.1:40000");
  EXPECT_EQ(row.at("who"), "admin_token");
  EXPECT_EQ(row.at("action"), "repository.load");
  EXPECT_EQ(row.at("method"), "POST");
  EXPECT_EQ(row.at("path"), "/v2/repository/models/m1/load");
  EXPECT_EQ(row.at("status"), 200);
  EXPECT_EQ(row.at("detail"), "event 1");
  EXPECT_EQ((*log)->dropped(), 0u);
  EXPECT_EQ((*log)->write_errors(), 0u);
}

TEST_F(AuditLogTest, AHostilePathCannotForgeALineOrBreakTheEncoding) {
  auto log = AuditLog::Open(Options());
  ASSERT_TRUE(log.ok());
  AuditEvent e = Event(1);
  e.path = "/x\n{\"action\":\"forged\"}\"\\\xff" + std::string(100'000, 'p');
  e.method = std::string(1000, 'M');
  (*log)->Record(std::move(e));
  (*log)->Stop();
  const std::vector<std::string> lines = ReadLines(path_);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_LT(lines[0].size(), 1024u);  // bounded whatever was sent
  const json::object row = ParseLine(lines[0]);
  const std::string path(row.at("path").as_string());
  EXPECT_EQ(path.rfind("/x%0A{\"action\":\"forged\"}\"\\%FF", 0), 0u) << path;
  EXPECT_EQ(path.substr(path.size() - 3), "...");
  EXPECT_EQ(row.at("action"), "repository.load");
}

TEST_F(AuditLogTest, RotationKeepsTheNewestFilesWithinTheirSize) {
  AuditLogOptions options = Options();
  options.max_bytes = 1024;
  options.keep = 2;
  auto log = AuditLog::Open(options);
  ASSERT_TRUE(log.ok());
  (*log)->Start();
  constexpr int kEvents = 100;
  for (int i = 0; i < kEvents; ++i) (*log)->Record(Event(i));
  (*log)->Stop();
  EXPECT_TRUE(fs::exists(path_.string() + ".1"));
  EXPECT_TRUE(fs::exists(path_.string() + ".2"));
  EXPECT_FALSE(fs::exists(path_.string() + ".3"));
  // Oldest first: FILE.2, FILE.1, FILE; the events in them run on without a
  // gap up to the last one.
  std::vector<int> seen;
  for (const std::string& name : {path_.string() + ".2", path_.string() + ".1", path_.string()}) {
    EXPECT_LE(fs::file_size(name), 1024u) << name;
    for (const std::string& line : ReadLines(name)) {
      const std::string detail(ParseLine(line).at("detail").as_string());
      seen.push_back(std::stoi(detail.substr(6)));
    }
  }
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.back(), kEvents - 1);
  for (std::size_t i = 1; i < seen.size(); ++i) EXPECT_EQ(seen[i], seen[i - 1] + 1);
  EXPECT_LT(seen.size(), static_cast<std::size_t>(kEvents));  // older files were deleted
}

TEST_F(AuditLogTest, KeepZeroRestartsTheFileWithoutRotatedCopies) {
  AuditLogOptions options = Options();
  options.max_bytes = 1024;
  options.keep = 0;
  auto log = AuditLog::Open(options);
  ASSERT_TRUE(log.ok());
  for (int i = 0; i < 50; ++i) (*log)->Record(Event(i));
  (*log)->Stop();
  EXPECT_FALSE(fs::exists(path_.string() + ".1"));
  EXPECT_LE(fs::file_size(path_), 1024u);
  const std::vector<std::string> lines = ReadLines(path_);
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(ParseLine(lines.back()).at("detail"), "event 49");
}

TEST_F(AuditLogTest, AFloodPastTheQueueIsDroppedAndCountedInTheLog) {
  AuditLogOptions options = Options();
  options.max_queued = 8;
  auto log = AuditLog::Open(options);
  ASSERT_TRUE(log.ok());
  // The writer has not started, so nothing drains: the queue stays at 8.
  for (int i = 0; i < 100; ++i) (*log)->Record(Event(i));
  EXPECT_EQ((*log)->dropped(), 92u);
  (*log)->Start();
  (*log)->Stop();
  const std::vector<std::string> lines = ReadLines(path_);
  ASSERT_EQ(lines.size(), 9u);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(ParseLine(lines[i]).at("detail").as_string(), "event " + std::to_string(i));
  const json::object note = ParseLine(lines[8]);
  EXPECT_EQ(note.at("action"), "audit.dropped");
  EXPECT_EQ(note.at("dropped"), 92);
  EXPECT_NE(std::string(note.at("detail").as_string()).find("92 audit events were dropped"), std::string::npos);
}

TEST_F(AuditLogTest, EventsAfterStopAreIgnored) {
  auto log = AuditLog::Open(Options());
  ASSERT_TRUE(log.ok());
  (*log)->Start();
  (*log)->Record(Event(1));
  (*log)->Stop();
  (*log)->Record(Event(2));
  (*log)->Stop();
  EXPECT_EQ(ReadLines(path_).size(), 1u);
}

TEST_F(AuditLogTest, AppendsToAnExistingFile) {
  {
    std::ofstream(path_) << "{\"earlier\":true}\n";
  }
  auto log = AuditLog::Open(Options());
  ASSERT_TRUE(log.ok());
  (*log)->Record(Event(1));
  (*log)->Stop();
  const std::vector<std::string> lines = ReadLines(path_);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], "{\"earlier\":true}");
}

TEST_F(AuditLogTest, AFileThatCannotBeOpenedIsAnErrorNamingIt) {
  AuditLogOptions options = Options();
  options.path = (dir_ / "no-such-dir" / "audit.log").string();
  auto log = AuditLog::Open(options);
  ASSERT_FALSE(log.ok());
  EXPECT_NE(log.status().message().find(options.path), std::string::npos) << log.status().message();
}

}  // namespace
}  // namespace mlship::serving::internal
