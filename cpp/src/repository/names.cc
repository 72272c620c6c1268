// Name and path checks.
#include "mlship/repository/names.h"

#include <cctype>
#include <string>

namespace mlship::repository {
namespace {

std::string Shown(std::string_view text) {
  constexpr std::size_t kMaxShown = 64;
  std::string out = "'" + std::string(text.substr(0, kMaxShown));
  if (text.size() > kMaxShown) out += "...";
  return out + "'";
}

bool Allowed(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
         c == '-';
}

}  // namespace

Status ValidateName(std::string_view what, std::string_view name) {
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument(std::string(what) + " " + Shown(name) + " " + why +
                                   "; use 1-128 letters, digits, '_', '.' or '-', starting with a letter, digit or '_'");
  };
  if (name.empty() || name.size() > 128) return bad("has " + std::to_string(name.size()) + " characters");
  if (name.front() == '.' || name.front() == '-') return bad("starts with '" + std::string(1, name.front()) + "'");
  for (char c : name) {
    if (!Allowed(c)) return bad("holds a character that is not allowed");
  }
  if (name.rfind("mlship-", 0) == 0) return bad("starts with 'mlship-', which the repository keeps for its own files");
  return Status::Ok();
}

Status ValidateRelativePath(std::string_view path) {
  if (path.empty() || path.front() == '/') {
    return Status::InvalidArgument("file path " + Shown(path) + " must be relative to the version folder");
  }
  std::string_view rest = path;
  while (true) {
    const std::size_t slash = rest.find('/');
    const std::string_view part = rest.substr(0, slash);
    Status valid = ValidateName("file path part", part);
    if (!valid.ok()) return Status::InvalidArgument("file path " + Shown(path) + ": " + valid.message());
    if (slash == std::string_view::npos) return Status::Ok();
    rest.remove_prefix(slash + 1);
  }
}

namespace {

bool IsDigit(char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }

std::string_view TakeRun(std::string_view& s) {
  std::size_t n = 1;
  const bool digits = IsDigit(s[0]);
  while (n < s.size() && IsDigit(s[n]) == digits) ++n;
  std::string_view run = s.substr(0, n);
  s.remove_prefix(n);
  return run;
}

}  // namespace

int CompareVersions(std::string_view a, std::string_view b) {
  while (!a.empty() && !b.empty()) {
    const bool a_digits = IsDigit(a[0]);
    const bool b_digits = IsDigit(b[0]);
    std::string_view ra = TakeRun(a);
    std::string_view rb = TakeRun(b);
    if (a_digits && b_digits) {
      // Compare as numbers without overflow: strip leading zeros, then
      // longer is larger, then lexicographic.
      auto strip = [](std::string_view r) {
        const std::size_t nz = r.find_first_not_of('0');
        return nz == std::string_view::npos ? std::string_view() : r.substr(nz);
      };
      ra = strip(ra);
      rb = strip(rb);
      if (ra.size() != rb.size()) return ra.size() < rb.size() ? -1 : 1;
    } else if (a_digits != b_digits) {
      return a_digits ? -1 : 1;  // numbers before text
    }
    if (const int c = ra.compare(rb); c != 0) return c < 0 ? -1 : 1;
  }
  if (a.empty() && b.empty()) return 0;
  return a.empty() ? -1 : 1;
}

}  // namespace mlship::repository
