// Version ordering, version policies, and validating ServerOptions and
// ModelOptions.
#include "mlship/deployment/server_options.h"

#include <algorithm>
#include <charconv>

namespace mlship {
StatusOr<VersionPolicy> VersionPolicy::Parse(std::string_view text) {
  VersionPolicy policy;
  auto bad = [&] {
    return Status::InvalidArgument("version_policy must be latest, latest:N (N >= 1), all or specific:V1,V2,...; was '" +
                                   std::string(text.substr(0, 80)) + "'");
  };
  if (text == "all") {
    policy.kind = Kind::kAll;
    return policy;
  }
  if (text == "latest") return policy;
  if (text.rfind("latest:", 0) == 0) {
    const std::string_view n = text.substr(7);
    int latest = 0;
    const auto [end, ec] = std::from_chars(n.data(), n.data() + n.size(), latest);
    if (ec != std::errc() || end != n.data() + n.size() || latest < 1) return bad();
    policy.latest = latest;
    return policy;
  }
  if (text.rfind("specific:", 0) == 0) {
    policy.kind = Kind::kSpecific;
    std::string_view rest = text.substr(9);
    while (!rest.empty()) {
      const std::size_t comma = rest.find(',');
      const std::string_view v = rest.substr(0, comma);
      if (v.empty()) return bad();
      policy.versions.emplace_back(v);
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
      if (rest.empty()) return bad();
    }
    if (policy.versions.empty()) return bad();
    return policy;
  }
  return bad();
}

std::string VersionPolicy::ToString() const {
  switch (kind) {
    case Kind::kAll: return "all";
    case Kind::kLatest: return latest == 1 ? "latest" : "latest:" + std::to_string(latest);
    case Kind::kSpecific: {
      std::string out = "specific:";
      for (std::size_t i = 0; i < versions.size(); ++i) out += (i ? "," : "") + versions[i];
      return out;
    }
  }
  return "latest";
}

std::vector<std::string> VersionPolicy::Select(std::vector<std::string> available) const {
  std::sort(available.begin(), available.end(),
            [](const std::string& a, const std::string& b) { return CompareVersions(a, b) < 0; });
  if (kind == Kind::kAll) return available;
  if (kind == Kind::kLatest) {
    const std::size_t keep = std::min<std::size_t>(available.size(), static_cast<std::size_t>(latest));
    return std::vector<std::string>(available.end() - static_cast<std::ptrdiff_t>(keep), available.end());
  }
  std::vector<std::string> chosen;
  for (const std::string& v : available) {
    if (std::find(versions.begin(), versions.end(), v) != versions.end()) chosen.push_back(v);
  }
  return chosen;
}

Status ModelOptions::Validate() const {
  if (version_policy.kind == VersionPolicy::Kind::kLatest && version_policy.latest < 1) {
    return Status::InvalidArgument("version_policy latest:N needs N >= 1; was " +
                                   std::to_string(version_policy.latest));
  }
  if (version_policy.kind == VersionPolicy::Kind::kSpecific && version_policy.versions.empty()) {
    return Status::InvalidArgument("version_policy specific: needs at least one version");
  }
  if (slo) RETURN_IF_ERROR(monitor::ValidateSloOptions(*slo));
  if (!(shadow_sample_rate >= 0 && shadow_sample_rate <= 1)) {
    return Status::InvalidArgument("shadow_sample_rate must be in [0, 1]");
  }
  return outcomes.Validate();
}

Status ServerOptions::Validate() const {
  if (serve_http) RETURN_IF_ERROR(serving::ValidateHttpServerOptions(http));
  if (grpc_port < -1 || grpc_port > 65535) {
    return Status::InvalidArgument("grpc_port must be 0 (off), -1 (any free port) or a port 1..65535; was " +
                                   std::to_string(grpc_port));
  }
  RETURN_IF_ERROR(workers.Validate());
  RETURN_IF_ERROR(caller_wakeup.Validate());
  if (max_loaded_versions < 0) {
    return Status::InvalidArgument("max_loaded_versions must be >= 0 (0 = no limit); was " +
                                   std::to_string(max_loaded_versions));
  }
  if (memory_budget_mb < 0) {
    return Status::InvalidArgument("memory_budget_mb must be >= 0 (0 = no limit); was " +
                                   std::to_string(memory_budget_mb));
  }
  if (policy_tick_interval.count() <= 0) {
    return Status::InvalidArgument("policy_tick_interval must be positive; was " +
                                   std::to_string(policy_tick_interval.count()) + " ms");
  }
  return Status::Ok();
}

}  // namespace mlship
