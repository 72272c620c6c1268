// Constant-time bearer-token comparison.
#include "auth.h"

#include <cctype>
#include <cstddef>

namespace mlship::serving::internal {

bool ConstantTimeEquals(std::string_view given, std::string_view expected) {
  // Walk all of `given` whatever happens, folding every difference (and the
  // length difference) into one accumulator; no early exit on a mismatch.
  // `expected` is indexed modulo its length so the loop shape depends only
  // on given.size().
  unsigned char difference = given.size() == expected.size() ? 0 : 1;
  if (expected.empty()) return given.empty();
  for (std::size_t i = 0; i < given.size(); ++i) {
    difference |= static_cast<unsigned char>(given[i] ^ expected[i % expected.size()]);
  }
  // volatile keeps the compiler from turning the fold into an early exit.
  volatile unsigned char result = difference;
  return result == 0;
}

StatusOr<std::string_view> BearerTokenOf(std::string_view authorization) {
  constexpr std::string_view kScheme = "bearer ";
  if (authorization.empty()) {
    return Status::Unauthenticated("this server requires a token: send the header 'Authorization: Bearer <token>'");
  }
  bool scheme_matches = authorization.size() > kScheme.size();
  for (std::size_t i = 0; scheme_matches && i < kScheme.size(); ++i) {
    scheme_matches = std::tolower(static_cast<unsigned char>(authorization[i])) == kScheme[i];
  }
  if (!scheme_matches) {
    return Status::Unauthenticated(
        "the Authorization header must use the Bearer scheme: 'Authorization: Bearer <token>'");
  }
  std::string_view given = authorization.substr(kScheme.size());
  while (!given.empty() && given.front() == ' ') given.remove_prefix(1);
  while (!given.empty() && given.back() == ' ') given.remove_suffix(1);
  return given;
}

Status CheckBearerToken(std::string_view authorization, std::string_view token) {
  ASSIGN_OR_RETURN(std::string_view given, BearerTokenOf(authorization));
  if (!ConstantTimeEquals(given, token)) {
    return Status::Unauthenticated("the bearer token is not valid for this server");
  }
  return Status::Ok();
}

}  // namespace mlship::serving::internal
