// Defaults of the Backend interface.
#include "mlship/serving/backend.h"

namespace mlship::serving {

Backend::~Backend() = default;

bool Backend::Live() const { return true; }

bool Backend::Ready() const { return true; }

bool Backend::ModelReady(std::string_view name, std::string_view version) const { return Find(name, version).ok(); }

}  // namespace mlship::serving
