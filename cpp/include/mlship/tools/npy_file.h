// Reading a numpy .npy file of float32 or float64 values, for the
// `--reference FILE.npy` flag of mlship-server.
//
// Written here rather than taken from a library: the format is a 10-byte
// preamble, a short Python-literal header and the raw values
// (numpy.org/doc/stable/reference/generated/numpy.lib.format.html), and the
// only packaged reader (xtensor's xnpy) would bring xtensor and xtl into the
// build for one function, reports problems by exceptions without saying what
// was expected, and bounds neither the header nor the shape. This reader
// takes only what a reference needs (float32/float64, either byte order,
// C or Fortran order; never pickles) and checks every size against the file
// before allocating.
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
};

// The values of one .npy file.
struct NpyArray {
  // kFloat32 or kFloat64.
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
// version other than 1-3, a dtype other than float32/float64 (object arrays,
// which would need unpickling, included), a header or data size that does
// not match the file.
StatusOr<NpyArray> ReadNpyFile(const std::string& path, const NpyReadOptions& options = {});

// The same, from the bytes of a file (`name` is used in messages).
StatusOr<NpyArray> ParseNpy(std::string_view bytes, const std::string& name, const NpyReadOptions& options = {});

}  // namespace mlship
