#include "core/safetensors.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "core/errors.h"
#include "core/files.h"

namespace dsbench::core::safetensors {
namespace {

namespace fs = std::filesystem;

OwnedTensor f32(std::vector<std::int64_t> shape, std::vector<float> values) {
  OwnedTensor t;
  t.dtype = DType::kF32;
  t.shape = std::move(shape);
  t.data.resize(values.size() * 4);
  std::memcpy(t.data.data(), values.data(), t.data.size());
  return t;
}

fs::path temp_file(const std::string& name) {
  return fs::temp_directory_path() / ("dsbench-st-" + std::to_string(::getpid()) + "-" + name);
}

std::string expect_input_error(const std::string& bytes, const std::string& name) {
  const fs::path path = temp_file(name);
  write_file_atomic(path, bytes);
  try {
    File::open(path);
  } catch (const InputError& e) {
    fs::remove(path);
    EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
    return e.what();
  }
  fs::remove(path);
  ADD_FAILURE() << "expected an InputError for " << name;
  return "";
}

std::string with_header(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  const std::uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xFF);
  return out + header + data;
}

TEST(Safetensors, RoundTripKeepsNamesShapesValuesAndMetadata) {
  const fs::path path = temp_file("roundtrip.safetensors");
  write(path, {{"b.weight", f32({2, 2}, {1, 2, 3, 4})}, {"a.bias", f32({3}, {-1, 0.5f, 7})}},
        {{"format", "pt"}});
  const File file = File::open(path);
  EXPECT_EQ(file.names(), (std::vector<std::string>{"a.bias", "b.weight"}));
  const TensorView& w = file.tensor("b.weight");
  EXPECT_EQ(w.shape, (std::vector<std::int64_t>{2, 2}));
  float values[4];
  std::memcpy(values, w.data, sizeof values);
  EXPECT_EQ(values[3], 4.0f);
  EXPECT_EQ(file.metadata().at("format"), "pt");
  fs::remove(path);
}

TEST(Safetensors, ReadAllCopiesEveryTensorOutOfTheFile) {
  const fs::path path = temp_file("read_all.safetensors");
  const std::map<std::string, OwnedTensor> written{{"b.weight", f32({2, 2}, {1, 2, 3, 4})},
                                                   {"a.bias", f32({3}, {-1, 0.5f, 7})}};
  write(path, written);
  const auto read = read_all(path);
  fs::remove(path);  // the copies outlive the file
  ASSERT_EQ(read.size(), 2u);
  for (const auto& [name, tensor] : written) {
    EXPECT_EQ(read.at(name).dtype, tensor.dtype) << name;
    EXPECT_EQ(read.at(name).shape, tensor.shape) << name;
    EXPECT_EQ(read.at(name).data, tensor.data) << name;
  }
  EXPECT_THROW(read_all(path), InputError);
}

// Bytes as the reference Python library writes them for {"x": torch.tensor([1., 2.])}:
// header '{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}' padded to 8-byte alignment.
TEST(Safetensors, ReadsReferenceLayout) {
  const std::string header = R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  std::string data(8, '\0');
  const float v[2] = {1.0f, 2.0f};
  std::memcpy(data.data(), v, 8);
  const fs::path path = temp_file("ref.safetensors");
  write_file_atomic(path, with_header(header, data));
  const File file = File::open(path);
  EXPECT_EQ(file.tensor("x").numel(), 2);
  fs::remove(path);
}

TEST(Safetensors, MalformedFilesNameTheProblem) {
  EXPECT_NE(expect_input_error("abc", "short").find("shorter than the 8-byte"), std::string::npos);
  EXPECT_NE(expect_input_error(with_header("{\"x\":", "").substr(0, 8) + "{", "trunc")
                .find("runs past the end"),
            std::string::npos);
  EXPECT_NE(expect_input_error(with_header("{not json}", ""), "json").find("not valid JSON"),
            std::string::npos);
  EXPECT_NE(expect_input_error(with_header(R"({"x":{"dtype":"F8","shape":[1],"data_offsets":[0,1]}})", "a"),
                               "dtype")
                .find("unknown dtype 'F8'"),
            std::string::npos);
  EXPECT_NE(expect_input_error(with_header(R"({"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})",
                                           std::string(8, '\0')),
                               "range")
                .find("outside"),
            std::string::npos);
  EXPECT_NE(expect_input_error(with_header(R"({"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})",
                                           std::string(8, '\0')),
                               "count")
                .find("need 12"),
            std::string::npos);
  EXPECT_NE(expect_input_error(with_header(R"({"x":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
                                           R"("y":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}})",
                                           std::string(6, '\0')),
                               "overlap")
                .find("overlap"),
            std::string::npos);
}

TEST(Safetensors, HalfAndBfloatConversions) {
  EXPECT_EQ(half_to_float(0x3C00), 1.0f);
  EXPECT_EQ(half_to_float(0xC000), -2.0f);
  EXPECT_EQ(half_to_float(0x0001), 5.960464477539063e-08f);  // smallest subnormal
  EXPECT_EQ(half_to_float(0x7BFF), 65504.0f);
  EXPECT_EQ(float_to_half(1.0f), 0x3C00);
  EXPECT_EQ(float_to_half(65504.0f), 0x7BFF);
  EXPECT_EQ(float_to_half(1e6f), 0x7C00);
  EXPECT_EQ(float_to_half(5.960464477539063e-08f), 0x0001);
  EXPECT_EQ(float_to_half(1.0f + 1.0f / 4096.0f), 0x3C00);  // ties to even
  for (std::uint32_t bits = 0; bits < 0x7C00; bits += 7) {
    EXPECT_EQ(float_to_half(half_to_float(static_cast<std::uint16_t>(bits))), bits);
  }
  EXPECT_EQ(bf16_to_float(0x3F80), 1.0f);
  EXPECT_EQ(float_to_bf16(1.0f), 0x3F80);
  EXPECT_EQ(float_to_bf16(bf16_to_float(0xC0A0)), 0xC0A0);
}

}  // namespace
}  // namespace dsbench::core::safetensors
