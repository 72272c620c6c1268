// Turning a C++ Status into the matching mlship Python exception.
#pragma once

#include "mlship/status.h"

namespace mlship::bindings {

// Raises the Python exception class registered for status.code() in
// mlship._errors (e.g. InvalidInputError for invalid_argument). Never returns.
[[noreturn]] void ThrowStatus(const Status& status);

}  // namespace mlship::bindings
