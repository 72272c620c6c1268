// Bearer-token checks for the HTTP server (internal).
#pragma once

#include <string_view>

#include "mlship/status.h"

namespace mlship::serving::internal {

// True when `given` equals `expected`. Takes the same time for every `given`
// of a given length whatever its content, so response timing does not reveal
// how much of a guessed token was right.
bool ConstantTimeEquals(std::string_view given, std::string_view expected);

// Checks an Authorization header value ("Bearer <token>", scheme
// case-insensitive) against `token`. Unauthenticated when the header is
// missing (empty), uses another scheme, or carries another token; the
// message never echoes what was sent.
Status CheckBearerToken(std::string_view authorization, std::string_view token);

// The token of an Authorization header value ("Bearer <token>", scheme
// case-insensitive, spaces around the token dropped); Unauthenticated, with
// the same messages as CheckBearerToken, when the header is empty or uses
// another scheme.
StatusOr<std::string_view> BearerTokenOf(std::string_view authorization);

}  // namespace mlship::serving::internal
