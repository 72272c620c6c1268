// The options schema: one table read by deploy(), both CLIs and manifests.
#include "mlship/deployment/options_schema.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <set>

namespace mlship {
namespace {

namespace json = boost::json;

Status Apply(const std::string& text, std::vector<OptionScope> scopes = {OptionScope::kServer, OptionScope::kModel,
                                                                         OptionScope::kVersion}) {
  ServingOptions o;
  return ApplyOptions(json::parse(text).as_object(), scopes, "the test", o);
}

TEST(OptionsSchemaTest, EveryOptionReadsBackTheValueItWasSet) {
  const ServingOptions defaults;
  std::set<std::string> keys;
  for (const OptionSpec& spec : OptionSchema()) {
    EXPECT_TRUE(keys.insert(spec.key).second) << "duplicate key " << spec.key;
    EXPECT_FALSE(spec.help.empty()) << spec.key;
    // Setting an option to its own default changes nothing and validates.
    ServingOptions o;
    json::object one;
    one[spec.key] = spec.get(defaults);
    if (spec.key.rfind("slo_", 0) == 0) {
      // An SLO needs a fallback and an objective; give it the other one.
      one["fallback_version"] = "fb";
      one[spec.key == "slo_max_error_rate" ? "slo_p99_ms" : "slo_max_error_rate"] = 0.5;
    }
    const std::vector<OptionScope> scopes =
        spec.scope == OptionScope::kRollout
            ? std::vector<OptionScope>{OptionScope::kRollout}
            : std::vector<OptionScope>{OptionScope::kServer, OptionScope::kModel, OptionScope::kVersion};
    Status applied = ApplyOptions(one, scopes, "t", o);
    EXPECT_TRUE(applied.ok()) << spec.key << ": " << applied.message();
    EXPECT_EQ(json::serialize(spec.get(o)), json::serialize(spec.get(defaults))) << spec.key;
  }
  EXPECT_GT(keys.size(), 40u);
}

TEST(OptionsSchemaTest, ValuesReachTheirFields) {
  ServingOptions o;
  ASSERT_TRUE(ApplyOptions(json::parse(R"({"max_batch_size": 16, "max_delay_ms": 1.5, "timeout_ms": 250,
      "instances": 3, "drift_check_interval_s": 2.5, "classifier": false, "preferred_batch_sizes": [4, 8],
      "idle_timeout_ms": 1000, "slo_p99_ms": 40, "fallback_version": "fb", "version_policy": "latest:3"})")
                               .as_object(),
                           {OptionScope::kServer, OptionScope::kModel, OptionScope::kVersion}, "t", o)
                  .ok());
  EXPECT_EQ(o.version_options.batcher.max_batch_size, 16);
  EXPECT_EQ(o.version_options.batcher.max_queue_delay, std::chrono::microseconds(1500));
  EXPECT_EQ(o.version_options.batcher.default_timeout, std::chrono::milliseconds(250));
  EXPECT_EQ(o.server.workers.instances, 3);
  EXPECT_EQ(o.version_options.monitor.drift_check_interval, std::chrono::milliseconds(2500));
  EXPECT_EQ(o.version_options.monitor.classifier, std::optional<bool>(false));
  EXPECT_EQ(o.version_options.batcher.preferred_batch_sizes, (std::vector<int64_t>{4, 8}));
  EXPECT_EQ(o.server.http.idle_timeout, std::chrono::milliseconds(1000));
  ASSERT_TRUE(o.model.slo.has_value());
  EXPECT_DOUBLE_EQ(o.model.slo->p99_seconds, 0.04);
  EXPECT_EQ(o.model.version_policy.latest, 3);
}

TEST(OptionsSchemaTest, MistakesNameTheKey) {
  Status unknown = Apply(R"({"max_batch": 16})");
  EXPECT_NE(unknown.message().find("unknown option 'max_batch'"), std::string::npos) << unknown.message();
  EXPECT_NE(unknown.message().find("did you mean 'max_batch_size'"), std::string::npos) << unknown.message();
  Status type = Apply(R"({"max_batch_size": "16"})");
  EXPECT_NE(type.message().find("option 'max_batch_size' (the test) must be an integer; got \"16\""),
            std::string::npos)
      << type.message();
  EXPECT_NE(Apply(R"({"max_batch_size": 0})").message().find("max_batch_size must be in 1..1048576; was 0"),
            std::string::npos);
  EXPECT_NE(Apply(R"({"port": 70000})").message().find("port must be in 0..65535; was 70000"), std::string::npos);
  Status scope = Apply(R"({"port": 1})", {OptionScope::kVersion});
  EXPECT_NE(scope.message().find("applies to the whole server"), std::string::npos) << scope.message();
  EXPECT_NE(Apply(R"({"version_policy": "newest"})").message().find("latest, latest:N"), std::string::npos);
  EXPECT_NE(Apply(R"({"slo_p99_ms": 5})").message().find("needs fallback"), std::string::npos);
  EXPECT_NE(Apply(R"({"fallback_version": "fb"})").message().find("needs slo_max_error_rate or slo_p99_ms"),
            std::string::npos);
  EXPECT_NE(Apply(R"({"token": "t", "admin_token": "t"})").message().find("must differ"), std::string::npos);
}

TEST(OptionsSchemaTest, CommandLineTextBecomesTypedValues) {
  EXPECT_EQ(json::serialize(ParseOptionText(*FindOption("preferred_batch_sizes"), "8,16").value()), "[8,16]");
  EXPECT_TRUE(ParseOptionText(*FindOption("classifier"), "auto").value().is_null());
  EXPECT_DOUBLE_EQ(ParseOptionText(*FindOption("max_delay_ms"), "2.5").value().as_double(), 2.5);
  EXPECT_FALSE(ParseOptionText(*FindOption("max_batch_size"), "1e3").ok());
  EXPECT_FALSE(ParseOptionText(*FindOption("preferred_batch_sizes"), "8,").ok());
}

TEST(OptionsSchemaTest, TokensAreReportedAsPresentNeverByValue) {
  ServingOptions o;
  o.server.http.token = "secret-token";
  const json::object values = OptionValues(o, {OptionScope::kServer});
  EXPECT_EQ(values.at("token"), json::value(true));
  EXPECT_EQ(json::serialize(values).find("secret-token"), std::string::npos);
}

TEST(VersionPolicyTest, SelectsByPolicy) {
  const std::vector<std::string> all = {"10", "2", "1"};
  EXPECT_EQ(VersionPolicy::Parse("latest").value().Select(all), (std::vector<std::string>{"10"}));
  EXPECT_EQ(VersionPolicy::Parse("latest:2").value().Select(all), (std::vector<std::string>{"2", "10"}));
  EXPECT_EQ(VersionPolicy::Parse("all").value().Select(all), (std::vector<std::string>{"1", "2", "10"}));
  EXPECT_EQ(VersionPolicy::Parse("specific:1,7").value().Select(all), (std::vector<std::string>{"1"}));
  for (const char* bad : {"latest:0", "specific:", "newest", "latest:x", "specific:1,"}) {
    EXPECT_FALSE(VersionPolicy::Parse(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace mlship
