// The .npy reader behind --reference: what numpy writes is read exactly;
// anything else is refused with what was expected, and never crashes.
#include "mlship/engine/npy_file.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstring>
#include <fstream>
#include <string>

#include "mlship/engine/npy_tensor.h"

namespace mlship {
namespace {

// A .npy file as numpy.save writes it: magic, version, header length, the
// header dict padded with spaces to a multiple of 64 bytes and ending in
// '\n', then `data`.
std::string Npy(const std::string& dict, const std::string& data, int major = 1) {
  const std::size_t preamble = major == 1 ? 10 : 12;
  std::string header = dict;
  while ((preamble + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string out = "\x93NUMPY";
  out += static_cast<char>(major);
  out += '\0';
  const std::size_t n = header.size();
  out += static_cast<char>(n & 0xff);
  out += static_cast<char>((n >> 8) & 0xff);
  if (major != 1) out += std::string(2, '\0');
  return out + header + data;
}

template <typename T>
std::string Bytes(std::initializer_list<T> values) {
  std::string out(values.size() * sizeof(T), '\0');
  std::memcpy(out.data(), std::data(values), out.size());
  return out;
}

std::string Swapped(std::string bytes, std::size_t item) {
  for (std::size_t at = 0; at < bytes.size(); at += item) std::reverse(bytes.begin() + at, bytes.begin() + at + item);
  return bytes;
}

TEST(NpyFile, ReadsFloat32InCOrder) {
  const std::string file =
      Npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", Bytes<float>({1, 2, 3, 4, 5, 6}));
  auto array = ParseNpy(file, "x.npy");
  ASSERT_TRUE(array.ok()) << array.status().ToString();
  EXPECT_EQ(array->dtype, DType::kFloat32);
  EXPECT_EQ(array->shape, (std::vector<int64_t>{2, 3}));
  const at::Tensor t = NpyToTensor(*array);
  EXPECT_TRUE(torch::equal(t, torch::tensor({{1.f, 2.f, 3.f}, {4.f, 5.f, 6.f}})));
}

TEST(NpyFile, ReadsBigEndianFloat64FortranOrderAndVersion2) {
  // Column-major [[1, 2, 3], [4, 5, 6]] is 1 4 2 5 3 6.
  const std::string data = Swapped(Bytes<double>({1, 4, 2, 5, 3, 6}), 8);
  const std::string file = Npy("{'descr': '>f8', 'fortran_order': True, 'shape': (2, 3), }", data, 2);
  auto array = ParseNpy(file, "x.npy");
  ASSERT_TRUE(array.ok()) << array.status().ToString();
  EXPECT_EQ(array->dtype, DType::kFloat64);
  const at::Tensor t = NpyToTensor(*array);
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_TRUE(torch::equal(t, torch::tensor({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}}, torch::kDouble)));
}

TEST(NpyFile, RefusesOtherDtypesAndSaysWhatItTakes) {
  for (const char* descr : {"'<i8'", "'|O'", "'<c8'", "'<f2'"}) {
    const std::string file =
        Npy(std::string("{'descr': ") + descr + ", 'fortran_order': False, 'shape': (1,), }", std::string(8, '\0'));
    Status s = ParseNpy(file, "x.npy").status();
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << descr;
    EXPECT_NE(s.message().find(descr), std::string::npos) << s.message();
    EXPECT_NE(s.message().find("expected float32"), std::string::npos) << s.message();
  }
}

TEST(NpyFile, RefusesFilesWhoseSizesDoNotAddUp) {
  const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  Status short_data = ParseNpy(Npy(dict, Bytes<float>({1, 2, 3})), "x.npy").status();
  EXPECT_NE(short_data.message().find("need 24 bytes of values; the file holds 12"), std::string::npos)
      << short_data.message();
  EXPECT_FALSE(ParseNpy(Npy(dict, Bytes<float>({1, 2, 3, 4, 5, 6, 7})), "x.npy").ok()) << "trailing bytes";
  // A shape whose size overflows or exceeds the limit is refused before any allocation.
  const std::string huge = Npy("{'descr': '<f8', 'fortran_order': False, 'shape': (999999999999, 999999999), }", "");
  Status too_big = ParseNpy(huge, "x.npy").status();
  EXPECT_NE(too_big.message().find("bytes accepted"), std::string::npos) << too_big.message();
  // A header length beyond the file.
  std::string lying = Npy(dict, Bytes<float>({1, 2, 3, 4, 5, 6}));
  lying[8] = '\xff';
  lying[9] = '\x7f';
  EXPECT_NE(ParseNpy(lying, "x.npy").status().message().find("header claims"), std::string::npos);
}

TEST(NpyFile, RefusesWhatIsNotANpyFileWithoutCrashing) {
  EXPECT_NE(ParseNpy("PK\x03\x04 a zip", "x.npz").status().message().find("not a .npy file"), std::string::npos);
  EXPECT_FALSE(ParseNpy("", "x.npy").ok());
  EXPECT_FALSE(ParseNpy(std::string("\x93NUMPY\x01", 7), "x.npy").ok());
  std::string v9 = Npy("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", Bytes<float>({1}));
  v9[6] = 9;
  EXPECT_NE(ParseNpy(v9, "x.npy").status().message().find("version 9"), std::string::npos);
  EXPECT_FALSE(ParseNpy(Npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }", ""), "x.npy").ok());
  EXPECT_FALSE(ParseNpy(Npy("{'descr': '<f4', 'shape': (1,), }", Bytes<float>({1})), "x.npy").ok());
  // Every prefix of a valid file is refused cleanly.
  const std::string good = Npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", Bytes<float>({1, 2}));
  for (std::size_t n = 0; n < good.size(); ++n) EXPECT_FALSE(ParseNpy(good.substr(0, n), "x.npy").ok()) << n;
}

TEST(NpyFile, ReadsFromDiskAndNamesAMissingFile) {
  const std::string path = ::testing::TempDir() + "/reference.npy";
  {
    std::ofstream out(path, std::ios::binary);
    out << Npy("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", Bytes<float>({1, 2, 3}));
  }
  auto array = ReadNpyFile(path);
  ASSERT_TRUE(array.ok()) << array.status().ToString();
  EXPECT_EQ(array->shape, std::vector<int64_t>{3});
  Status missing = ReadNpyFile(path + ".nope").status();
  EXPECT_NE(missing.message().find("reference.npy.nope"), std::string::npos) << missing.message();
  EXPECT_NE(missing.message().find("cannot open"), std::string::npos) << missing.message();
}

}  // namespace
}  // namespace mlship
