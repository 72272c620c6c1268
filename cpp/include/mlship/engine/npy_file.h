// Reading a numpy .npy file: float32/float64 values for a monitoring
// reference (`--reference FILE.npy`), any numeric dtype for the golden
// inputs and outputs a repository version stores.
//
// Written here rather than taken from a library: the format is a 10-byte
// preamble, a short Python-literal header and the raw values
// (numpy.org/doc/stable/reference/generated/numpy.lib.format.html), and the
// only packaged reader (xtensor's xnpy) would bring xtensor and xtl into the
// build for one function, reports problems by exceptions without saying what
// was expected, and bounds neither the header nor the shape. This reader
// takes plain numeric arrays (bool, signed and unsigned integers, float16,
// float32, float64; either byte order, C or Fortran order; never pickles)
// and checks every size against the file before allocating.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mlship/engine/dtype.h"
#include "mlship/status.h"

namespace mlship {

struct NpyReadOptions {
  // Largest data section accepted, in bytes. Default 2 GiB: a reference
  // is a sample of the training data, not all of it.
  int64_t max_data_bytes = int64_t{2} << 30;
  // Accept only float32 and float64 (a reference's features). Default true;
  // false accepts every numeric dtype mlship serves.
  bool float_only = true;
  // What the file is, for messages ("--reference", "golden output 0").
  std::string role = "--reference";
};

// The values of one .npy file.
struct NpyArray {
  // kFloat32 or kFloat64 (any numeric DType without float_only).
  DType dtype = DType::kFloat32;
  // The array's shape as numpy reports it (rank 0..32).
  std::vector<int64_t> shape;
  // Whether `data` is in Fortran (column-major) order.
  bool fortran_order = false;
  // The values in native byte order, element after element.
  std::vector<unsigned char> data;
};

// Reads `path`. InvalidArgument naming the file and what was expected
// against what was found: a missing or unreadable file, not a .npy file, a
// version other than 1-3, a dtype it does not accept (object arrays, which
// would need unpickling, are never accepted), a header or data size that
// does not match the file.
StatusOr<NpyArray> ReadNpyFile(const std::string& path, const NpyReadOptions& options = {});

// The same, from the bytes of a file (`name` is used in messages).
StatusOr<NpyArray> ParseNpy(std::string_view bytes, const std::string& name, const NpyReadOptions& options = {});

}  // namespace mlship
