// Reading the scoped-token file (JSON Lines) and hashing tokens.
#include "token_file.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <fstream>
#include <iterator>
#include <set>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <openssl/evp.h>

namespace mlship::serving::internal {
namespace json = boost::json;

namespace {

constexpr std::size_t kMaxNameBytes = 64;

std::string Where(std::string_view source, std::size_t line) {
  return std::string(source) + " line " + std::to_string(line);
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool ValidName(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameBytes) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                    c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::optional<double> Number(const json::value& v) {
  if (v.is_double()) return v.get_double();
  if (v.is_int64()) return static_cast<double>(v.get_int64());
  if (v.is_uint64()) return static_cast<double>(v.get_uint64());
  return std::nullopt;
}

StatusOr<TokenEntry> ParseEntry(std::string_view text, const std::string& where) {
  json::parse_options limits;
  limits.max_depth = 4;
  boost::system::error_code ec;
  const json::value v = json::parse(text, ec, {}, limits);
  if (ec) return Status::InvalidArgument(where + ": not valid JSON (" + ec.message() + "); expected one object per line");
  if (!v.is_object()) return Status::InvalidArgument(where + ": expected a JSON object {\"name\": ..., \"sha256\": ..., \"scopes\": [...]}");
  const json::object& o = v.get_object();
  for (const auto& [key, unused] : o) {
    if (key != "name" && key != "sha256" && key != "scopes" && key != "rate_per_s" && key != "burst") {
      return Status::InvalidArgument(where + ": unknown key '" + std::string(key.substr(0, 40)) +
                                     "'; expected name, sha256, scopes, rate_per_s, burst");
    }
  }
  TokenEntry entry;
  const json::value* name = o.if_contains("name");
  if (name == nullptr || !name->is_string() || !ValidName(name->get_string())) {
    return Status::InvalidArgument(where + ": \"name\" must be a string of 1..64 letters, digits, '_', '.' or '-'");
  }
  entry.name = std::string(name->get_string());
  const json::value* hash = o.if_contains("sha256");
  if (hash == nullptr || !hash->is_string() || hash->get_string().size() != 64) {
    return Status::InvalidArgument(where + " (" + entry.name +
                                   "): \"sha256\" must be the 64 hex digits of the token's SHA-256 (mlship token create "
                                   "writes it); never put the token itself in this file");
  }
  const json::string& hex = hash->get_string();
  for (std::size_t i = 0; i < entry.sha256.size(); ++i) {
    const int hi = HexValue(hex[2 * i]);
    const int lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      return Status::InvalidArgument(where + " (" + entry.name + "): \"sha256\" holds a character that is not a hex digit");
    }
    entry.sha256[i] = static_cast<unsigned char>(hi * 16 + lo);
  }
  const json::value* scopes = o.if_contains("scopes");
  if (scopes == nullptr || !scopes->is_array() || scopes->get_array().empty()) {
    return Status::InvalidArgument(where + " (" + entry.name +
                                   "): \"scopes\" must be a non-empty list of \"infer\", \"read\", \"admin\"");
  }
  for (const json::value& s : scopes->get_array()) {
    const json::string* scope = s.if_string();
    if (scope != nullptr && *scope == "infer") {
      entry.scopes |= kScopeInfer;
    } else if (scope != nullptr && *scope == "read") {
      entry.scopes |= kScopeRead;
    } else if (scope != nullptr && *scope == "admin") {
      entry.scopes |= kScopeAdmin;
    } else {
      return Status::InvalidArgument(where + " (" + entry.name + "): unknown scope " +
                                     json::serialize(s).substr(0, 40) + "; expected \"infer\", \"read\" or \"admin\"");
    }
  }
  if (const json::value* rate = o.if_contains("rate_per_s")) {
    const std::optional<double> x = Number(*rate);
    if (!x || !std::isfinite(*x) || *x <= 0 || *x > 1e9) {
      return Status::InvalidArgument(where + " (" + entry.name + "): \"rate_per_s\" must be a number in (0, 1e9]");
    }
    entry.rate_per_s = *x;
    entry.burst = std::max(1.0, std::floor(*x));
  }
  if (const json::value* burst = o.if_contains("burst")) {
    const std::optional<double> x = Number(*burst);
    if (!x || !std::isfinite(*x) || *x < 1 || *x > 1e9) {
      return Status::InvalidArgument(where + " (" + entry.name + "): \"burst\" must be a number in [1, 1e9]");
    }
    if (entry.rate_per_s == 0) {
      return Status::InvalidArgument(where + " (" + entry.name + "): \"burst\" needs \"rate_per_s\" beside it");
    }
    entry.burst = *x;
  }
  return entry;
}

}  // namespace

std::string_view ScopeName(TokenScope scope) {
  switch (scope) {
    case kScopeInfer: return "infer";
    case kScopeRead: return "read";
    case kScopeAdmin: return "admin";
  }
  return "?";
}

std::string ScopeList(unsigned scopes) {
  std::string out;
  for (TokenScope scope : {kScopeInfer, kScopeRead, kScopeAdmin}) {
    if ((scopes & scope) == 0) continue;
    if (!out.empty()) out += ", ";
    out += ScopeName(scope);
  }
  return out.empty() ? "none" : out;
}

TokenDigest Sha256(std::string_view bytes) {
  TokenDigest digest{};
  unsigned int size = 0;
  // EVP_Digest is the one-shot form; it fails only when out of memory, and
  // an all-zero digest then matches no entry (a parsed sha256 of zeros is
  // as unlikely to be a real token's hash as any other value).
  if (EVP_Digest(bytes.data(), bytes.size(), digest.data(), &size, EVP_sha256(), nullptr) != 1) digest.fill(0);
  return digest;
}

StatusOr<std::vector<TokenEntry>> ParseTokenFile(std::string_view text, std::string_view source) {
  if (text.size() > kMaxTokenFileBytes) {
    return Status::InvalidArgument(std::string(source) + " is " + std::to_string(text.size()) +
                                   " bytes; a token file may hold at most " + std::to_string(kMaxTokenFileBytes));
  }
  std::vector<TokenEntry> entries;
  std::set<std::string, std::less<>> names;
  std::set<TokenDigest> digests;
  std::size_t line_number = 0;
  while (!text.empty()) {
    ++line_number;
    const std::size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    if (line.empty() || line.front() == '#') continue;
    const std::string where = Where(source, line_number);
    if (entries.size() == kMaxTokenEntries) {
      return Status::InvalidArgument(where + ": a token file may hold at most " + std::to_string(kMaxTokenEntries) +
                                     " tokens");
    }
    ASSIGN_OR_RETURN(TokenEntry entry, ParseEntry(line, where));
    if (!names.insert(entry.name).second) {
      return Status::InvalidArgument(where + ": the name '" + entry.name + "' is used twice; names must be unique");
    }
    if (!digests.insert(entry.sha256).second) {
      return Status::InvalidArgument(where + " (" + entry.name +
                                     "): the same sha256 appears twice; each token must be listed once");
    }
    entries.push_back(std::move(entry));
  }
  return entries;
}

StatusOr<std::vector<TokenEntry>> ReadTokenFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("cannot open the token file '" + path + "'");
  std::string text;
  text.resize(kMaxTokenFileBytes + 1);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (in.bad()) return Status::Internal("cannot read the token file '" + path + "'");
  if (text.size() > kMaxTokenFileBytes) {
    return Status::InvalidArgument("the token file '" + path + "' is larger than " +
                                   std::to_string(kMaxTokenFileBytes) + " bytes");
  }
  return ParseTokenFile(text, "token file '" + path + "'");
}

}  // namespace mlship::serving::internal
