// Turning exceptions from LibTorch into short, user-facing messages.
#pragma once

#include <exception>
#include <string>

namespace mlship {

// The exception's message without C++ backtraces or TorchScript tracebacks:
// the last non-empty line, which is where torch puts the actual error
// ("RuntimeError: mat1 and mat2 shapes cannot be multiplied (1x7 and 64x256)").
std::string ErrorSummary(const std::exception& e);

}  // namespace mlship
