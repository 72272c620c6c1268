// ErrorSummary: the last meaningful line of a torch exception.
#include "mlship/engine/error_text.h"

#include <c10/util/Exception.h>

#include <sstream>

namespace mlship {

std::string ErrorSummary(const std::exception& e) {
  const auto* c10_error = dynamic_cast<const c10::Error*>(&e);
  std::string text = c10_error != nullptr ? c10_error->what_without_backtrace() : e.what();
  std::istringstream lines(text);
  std::string line, last;
  while (std::getline(lines, line)) {
    auto first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos) continue;
    last = line.substr(first);
  }
  // Python exceptions raised in TorchScript read "builtins.ValueError: ...".
  if (last.rfind("builtins.", 0) == 0) last = last.substr(9);
  return last.empty() ? std::string("unknown error") : last;
}

}  // namespace mlship
