// The names a repository accepts: models, versions, aliases and the file
// paths inside a version. Checked everywhere a name comes in (the API, the
// CLI, HTTP, a manifest read from disk), so that nothing resolves outside the
// repository's root.
#pragma once

#include <string_view>

#include "mlship/status.h"

namespace mlship::repository {

// 1-128 characters of letters, digits, '_', '.' and '-', not starting with
// '.' or '-' (so never ".", "..", a hidden folder or something read as a
// flag), and not starting with "mlship-" (reserved for the repository's own
// files). InvalidArgument naming `what` and the value (truncated).
Status ValidateName(std::string_view what, std::string_view name);

// Orders version names the way people read them: runs of digits compare as
// numbers, the rest as text ("2" < "10", "1.9" < "1.10", "a" < "b"), numbers
// before text. Returns <0, 0 or >0.
int CompareVersions(std::string_view a, std::string_view b);

// A path inside a version folder, as a manifest lists it: relative, '/'
// separated, each part a valid name (no "..", no empty parts, no leading
// '/'). InvalidArgument naming the path.
Status ValidateRelativePath(std::string_view path);

}  // namespace mlship::repository
