// Tests the scoped-token file parser and the token hash (internal
// cpp/src/serving/token_file.h).
#include "token_file.h"

#include <gtest/gtest.h>

#include <string>

#include "text_assertions.h"

namespace mlship::serving::internal {
namespace {

using ::mlship::serving::testing::Contains;

// SHA-256("abc"), FIPS 180-2's test vector.
constexpr const char* kAbcHex = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

std::string Line(const std::string& name, const std::string& hex, const std::string& rest = R"(, "scopes": ["read"])") {
  return R"({"name": ")" + name + R"(", "sha256": ")" + hex + "\"" + rest + "}";
}

std::string ErrorOf(const std::string& text) {
  StatusOr<std::vector<TokenEntry>> parsed = ParseTokenFile(text, "tokens.jsonl");
  EXPECT_FALSE(parsed.ok()) << text;
  return parsed.ok() ? std::string() : parsed.status().message();
}

TEST(TokenFileTest, Sha256MatchesTheStandardVector) {
  const TokenDigest digest = Sha256("abc");
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char b : digest) {
    hex += kDigits[b >> 4];
    hex += kDigits[b & 15];
  }
  EXPECT_EQ(hex, kAbcHex);
}

TEST(TokenFileTest, ParsesAGoodFile) {
  const std::string text = "# scoped tokens\n\n" + Line("ci", kAbcHex, R"(, "scopes": ["infer", "read"], "rate_per_s": 2.5, "burst": 10)") +
                           "\r\n" + Line("ops", std::string(64, 'A'), R"(, "scopes": ["admin"])") + "\n" +
                           Line("slow", std::string(64, '0'), R"(, "scopes": ["read"], "rate_per_s": 3)");
  StatusOr<std::vector<TokenEntry>> parsed = ParseTokenFile(text, "tokens.jsonl");
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  ASSERT_EQ(parsed->size(), 3u);
  const TokenEntry& ci = (*parsed)[0];
  EXPECT_EQ(ci.name, "ci");
  EXPECT_EQ(ci.sha256, Sha256("abc"));
  EXPECT_EQ(ci.scopes, kScopeInfer | kScopeRead);
  EXPECT_DOUBLE_EQ(ci.rate_per_s, 2.5);
  EXPECT_DOUBLE_EQ(ci.burst, 10);
  EXPECT_EQ((*parsed)[1].scopes, unsigned{kScopeAdmin});
  EXPECT_EQ((*parsed)[1].sha256[0], 0xAA);
  EXPECT_DOUBLE_EQ((*parsed)[1].rate_per_s, 0);  // no limit
  EXPECT_DOUBLE_EQ((*parsed)[2].burst, 3);       // burst defaults to the rate
  EXPECT_EQ(ScopeList(ci.scopes), "infer, read");
}

TEST(TokenFileTest, AnEmptyFileHoldsNoTokens) {
  StatusOr<std::vector<TokenEntry>> parsed = ParseTokenFile("\n# nothing yet\n", "tokens.jsonl");
  ASSERT_TRUE(parsed.ok());
  EXPECT_TRUE(parsed->empty());
}

TEST(TokenFileTest, BadLinesAreNamedWithWhatWasExpected) {
  const std::string good = Line("ci", kAbcHex) + "\n";
  std::string message = ErrorOf(good + "{not json\n");
  EXPECT_TRUE(Contains(message, "tokens.jsonl line 2")) << message;
  EXPECT_TRUE(Contains(message, "not valid JSON")) << message;
  EXPECT_TRUE(Contains(ErrorOf("[1, 2]"), "expected a JSON object"));
  message = ErrorOf(Line("bad name!", kAbcHex));
  EXPECT_TRUE(Contains(message, "line 1: \"name\" must be")) << message;
  message = ErrorOf(good + Line("short", "abcd"));
  EXPECT_TRUE(Contains(message, "line 2 (short): \"sha256\" must be the 64 hex digits")) << message;
  EXPECT_TRUE(Contains(message, "never put the token itself")) << message;
  EXPECT_TRUE(Contains(ErrorOf(Line("x", std::string(63, 'a') + "g")), "not a hex digit"));
  message = ErrorOf(Line("x", kAbcHex, R"(, "scopes": ["read", "write"])"));
  EXPECT_TRUE(Contains(message, "unknown scope \"write\"; expected \"infer\", \"read\" or \"admin\"")) << message;
  EXPECT_TRUE(Contains(ErrorOf(Line("x", kAbcHex, R"(, "scopes": [])")), "non-empty list"));
  EXPECT_TRUE(Contains(ErrorOf(Line("x", kAbcHex, "")), "\"scopes\" must be"));
  EXPECT_TRUE(Contains(ErrorOf(Line("x", kAbcHex, R"(, "scopes": ["read"], "rate_per_s": -1)")),
                       "\"rate_per_s\" must be a number in (0, 1e9]"));
  EXPECT_TRUE(Contains(ErrorOf(Line("x", kAbcHex, R"(, "scopes": ["read"], "rate_per_s": 1, "burst": 0.5)")),
                       "\"burst\" must be a number in [1, 1e9]"));
  EXPECT_TRUE(Contains(ErrorOf(Line("x", kAbcHex, R"(, "scopes": ["read"], "burst": 5)")), "needs \"rate_per_s\""));
  EXPECT_TRUE(Contains(ErrorOf(Line("x", kAbcHex, R"(, "scopes": ["read"], "token": "s3cret")")),
                       "unknown key 'token'"));
  message = ErrorOf(good + Line("ci", std::string(64, 'b')));
  EXPECT_TRUE(Contains(message, "line 2: the name 'ci' is used twice")) << message;
  message = ErrorOf(good + Line("other", kAbcHex));
  EXPECT_TRUE(Contains(message, "same sha256 appears twice")) << message;
}

TEST(TokenFileTest, SizeAndCountAreBounded) {
  EXPECT_TRUE(Contains(ErrorOf(std::string(kMaxTokenFileBytes + 1, '\n')), "at most"));
  std::string many;
  for (std::size_t i = 0; i <= kMaxTokenEntries; ++i) {
    std::string hex(64, '0');
    const std::string n = std::to_string(i);
    hex.replace(64 - n.size(), n.size(), n);
    many += Line("t" + n, hex) + "\n";
  }
  const std::string message = ErrorOf(many);
  EXPECT_TRUE(Contains(message, "at most " + std::to_string(kMaxTokenEntries) + " tokens")) << message;
}

TEST(TokenFileTest, AMissingFileIsNotFound) {
  StatusOr<std::vector<TokenEntry>> read = ReadTokenFile("/nonexistent/mlship/tokens.jsonl");
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(Contains(read.status().message(), "/nonexistent/mlship/tokens.jsonl"));
}

}  // namespace
}  // namespace mlship::serving::internal
