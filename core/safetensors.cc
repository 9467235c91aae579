#include "core/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>

#include "core/errors.h"
#include "core/files.h"

namespace dsbench::core::safetensors {
namespace {

constexpr std::uint64_t kMaxHeaderBytes = 100ULL * 1024 * 1024;  // as the reference library

const std::map<std::string, DType>& dtype_by_name() {
  static const std::map<std::string, DType> table = {
      {"F64", DType::kF64}, {"F32", DType::kF32}, {"F16", DType::kF16}, {"BF16", DType::kBF16},
      {"I64", DType::kI64}, {"I32", DType::kI32}, {"I16", DType::kI16}, {"I8", DType::kI8},
      {"U8", DType::kU8},   {"BOOL", DType::kBool}};
  return table;
}

std::vector<std::string> dtype_names() {
  std::vector<std::string> names;
  for (const auto& [name, dtype] : dtype_by_name()) names.push_back(name);
  return names;
}

[[noreturn]] void fail(const std::filesystem::path& path, const std::string& field,
                       const std::string& message) {
  throw InputError(Location{path.string(), 0, field}, "safetensors: " + message);
}

}  // namespace

std::size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::kF64: case DType::kI64: return 8;
    case DType::kF32: case DType::kI32: return 4;
    case DType::kF16: case DType::kBF16: case DType::kI16: return 2;
    case DType::kI8: case DType::kU8: case DType::kBool: return 1;
  }
  return 0;
}

std::string dtype_name(DType dtype) {
  for (const auto& [name, value] : dtype_by_name()) {
    if (value == dtype) return name;
  }
  return "?";
}

std::int64_t TensorView::numel() const {
  std::int64_t n = 1;
  for (const auto d : shape) n *= d;
  return n;
}

struct File::Mapping {
  void* address = MAP_FAILED;
  std::size_t length = 0;
  ~Mapping() {
    if (address != MAP_FAILED) ::munmap(address, length);
  }
};

File::~File() = default;
File::File(File&&) noexcept = default;
File& File::operator=(File&&) noexcept = default;

File File::open(const std::filesystem::path& path) {
  File file;
  file.path_ = path;
  file.mapping_ = std::make_unique<Mapping>();

  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(path, "", std::string("cannot open: ") + std::strerror(errno));
  struct stat info {};
  if (::fstat(fd, &info) != 0) {
    ::close(fd);
    fail(path, "", "cannot stat");
  }
  const auto file_size = static_cast<std::uint64_t>(info.st_size);
  if (file_size < 8) {
    ::close(fd);
    fail(path, "", "file is " + std::to_string(file_size) + " bytes, shorter than the 8-byte header length");
  }
  file.mapping_->length = file_size;
  file.mapping_->address = ::mmap(nullptr, file_size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (file.mapping_->address == MAP_FAILED) fail(path, "", "mmap failed");
  const auto* base = static_cast<const std::uint8_t*>(file.mapping_->address);

  std::uint64_t header_bytes = 0;
  for (int i = 7; i >= 0; --i) header_bytes = (header_bytes << 8) | base[i];
  if (header_bytes > kMaxHeaderBytes) {
    fail(path, "header", "header length " + std::to_string(header_bytes) + " exceeds the 100 MiB limit");
  }
  if (8 + header_bytes > file_size) {
    fail(path, "header", "header length " + std::to_string(header_bytes) + " runs past the end of the " +
                             std::to_string(file_size) + "-byte file (truncated?)");
  }
  const std::string header_text(reinterpret_cast<const char*>(base + 8), header_bytes);
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(header_text);
  } catch (const nlohmann::json::exception& e) {
    fail(path, "header", std::string("header is not valid JSON: ") + e.what());
  }
  if (!header.is_object()) fail(path, "header", "header must be a JSON object");

  const std::uint8_t* data_start = base + 8 + header_bytes;
  const std::uint64_t data_size = file_size - 8 - header_bytes;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges;

  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) fail(path, name, "__metadata__ must be an object of strings");
      for (const auto& [key, value] : entry.items()) {
        if (!value.is_string()) fail(path, "__metadata__." + key, "metadata values must be strings");
        file.metadata_[key] = value.get<std::string>();
      }
      continue;
    }
    if (!entry.is_object() || !entry.contains("dtype") || !entry.contains("shape") ||
        !entry.contains("data_offsets")) {
      fail(path, name, "tensor entry needs dtype, shape and data_offsets");
    }
    TensorView view;
    view.name = name;
    if (!entry["dtype"].is_string()) fail(path, name + ".dtype", "dtype must be a string");
    const auto dtype_text = entry["dtype"].get<std::string>();
    const auto found = dtype_by_name().find(dtype_text);
    if (found == dtype_by_name().end()) {
      std::string known;
      for (const auto& candidate : dtype_names()) known += " " + candidate;
      fail(path, name + ".dtype", "unknown dtype '" + dtype_text + "' (expected one of" + known + ")");
    }
    view.dtype = found->second;
    if (!entry["shape"].is_array()) fail(path, name + ".shape", "shape must be an array");
    for (const auto& d : entry["shape"]) {
      if (!d.is_number_integer() || d.get<std::int64_t>() < 0) {
        fail(path, name + ".shape", "dimensions must be non-negative integers");
      }
      view.shape.push_back(d.get<std::int64_t>());
    }
    const auto& offsets = entry["data_offsets"];
    if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
        !offsets[1].is_number_unsigned()) {
      fail(path, name + ".data_offsets", "data_offsets must be [begin, end] byte offsets");
    }
    const auto begin = offsets[0].get<std::uint64_t>();
    const auto end = offsets[1].get<std::uint64_t>();
    if (begin > end || end > data_size) {
      fail(path, name + ".data_offsets",
           "byte range [" + std::to_string(begin) + ", " + std::to_string(end) +
               ") lies outside the " + std::to_string(data_size) + "-byte data section (truncated?)");
    }
    const std::uint64_t expected = static_cast<std::uint64_t>(view.numel()) * dtype_size(view.dtype);
    if (end - begin != expected) {
      fail(path, name, "holds " + std::to_string(end - begin) + " bytes but dtype " + dtype_text +
                           " and its shape need " + std::to_string(expected));
    }
    view.data = data_start + begin;
    view.bytes = end - begin;
    ranges.emplace_back(begin, end);
    file.tensors_.emplace(name, std::move(view));
  }
  std::sort(ranges.begin(), ranges.end());
  for (std::size_t i = 1; i < ranges.size(); ++i) {
    if (ranges[i].first < ranges[i - 1].second) fail(path, "data_offsets", "tensor byte ranges overlap");
  }
  return file;
}

const TensorView& File::tensor(const std::string& name) const {
  const auto found = tensors_.find(name);
  if (found == tensors_.end()) fail(path_, name, "no tensor with this name");
  return found->second;
}

std::vector<std::string> File::names() const {
  std::vector<std::string> out;
  for (const auto& [name, view] : tensors_) out.push_back(name);
  return out;
}

std::string serialize(const std::map<std::string, OwnedTensor>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    std::int64_t numel = 1;
    for (const auto d : tensor.shape) numel *= d;
    if (tensor.data.size() != static_cast<std::size_t>(numel) * dtype_size(tensor.dtype)) {
      throw RunError("safetensors: tensor " + name + " has " + std::to_string(tensor.data.size()) +
                     " bytes, its shape needs " + std::to_string(numel * dtype_size(tensor.dtype)));
    }
    header[name] = {{"dtype", dtype_name(tensor.dtype)},
                    {"shape", tensor.shape},
                    {"data_offsets", {offset, offset + tensor.data.size()}}};
    offset += tensor.data.size();
  }
  std::string header_text = header.dump();
  while ((8 + header_text.size()) % 8 != 0) header_text.push_back(' ');
  std::string out;
  out.reserve(8 + header_text.size() + offset);
  const std::uint64_t length = header_text.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((length >> (8 * i)) & 0xFF));
  out += header_text;
  for (const auto& [name, tensor] : tensors) {
    out.append(reinterpret_cast<const char*>(tensor.data.data()), tensor.data.size());
  }
  return out;
}

void write(const std::filesystem::path& path, const std::map<std::string, OwnedTensor>& tensors,
           const std::map<std::string, std::string>& metadata) {
  write_file_atomic(path, serialize(tensors, metadata));
}

float half_to_float(std::uint16_t bits) {
  const std::uint32_t sign = (bits & 0x8000u) << 16;
  std::uint32_t exponent = (bits >> 10) & 0x1F;
  std::uint32_t mantissa = bits & 0x3FF;
  std::uint32_t out;
  if (exponent == 0) {
    if (mantissa == 0) {
      out = sign;
    } else {  // subnormal: normalise
      exponent = 127 - 15 + 1;
      while ((mantissa & 0x400) == 0) {
        mantissa <<= 1;
        --exponent;
      }
      mantissa &= 0x3FF;
      out = sign | (exponent << 23) | (mantissa << 13);
    }
  } else if (exponent == 0x1F) {
    out = sign | 0x7F800000u | (mantissa << 13);
  } else {
    out = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
  }
  float value;
  std::memcpy(&value, &out, sizeof value);
  return value;
}

float bf16_to_float(std::uint16_t bits) {
  const std::uint32_t out = static_cast<std::uint32_t>(bits) << 16;
  float value;
  std::memcpy(&value, &out, sizeof value);
  return value;
}

std::uint16_t float_to_bf16(float value) {
  std::uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  if ((bits & 0x7F800000u) == 0x7F800000u && (bits & 0x7FFFFFu) != 0) return 0x7FC0;  // NaN
  const std::uint32_t rounding = 0x7FFF + ((bits >> 16) & 1);
  return static_cast<std::uint16_t>((bits + rounding) >> 16);
}

std::uint16_t float_to_half(float value) {
  std::uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  const std::uint16_t sign = static_cast<std::uint16_t>((bits >> 16) & 0x8000);
  const std::uint32_t abs_bits = bits & 0x7FFFFFFFu;
  if (abs_bits >= 0x7F800000u) {  // inf or NaN
    return sign | 0x7C00 | (abs_bits > 0x7F800000u ? 0x200 : 0);
  }
  if (abs_bits >= 0x477FF000u) return sign | 0x7C00;  // overflow after rounding
  if (abs_bits < 0x38800000u) {                       // subnormal or zero in half
    if (abs_bits < 0x33000000u) return sign;          // rounds to zero
    // value = mantissa * 2^(exponent - 150) and a half subnormal counts units of 2^-24.
    const std::uint32_t exponent = abs_bits >> 23;
    const std::uint32_t mantissa = (abs_bits & 0x7FFFFF) | 0x800000;
    const std::uint32_t right = 126 - exponent;
    const std::uint32_t truncated = mantissa >> right;
    const std::uint32_t remainder = mantissa & ((1u << right) - 1);
    const std::uint32_t halfway = 1u << (right - 1);
    std::uint32_t result = truncated;
    if (remainder > halfway || (remainder == halfway && (truncated & 1))) ++result;
    return static_cast<std::uint16_t>(sign | result);
  }
  std::uint32_t rounded = abs_bits + 0xFFF + ((abs_bits >> 13) & 1);
  rounded -= (127 - 15) << 23;
  return static_cast<std::uint16_t>(sign | (rounded >> 13));
}

std::map<std::string, OwnedTensor> read_all(const std::filesystem::path& path) {
  const auto file = File::open(path);
  std::map<std::string, OwnedTensor> tensors;
  for (const auto& name : file.names()) {
    const auto& view = file.tensor(name);
    tensors.emplace(name, OwnedTensor{view.dtype, view.shape, {view.data, view.data + view.bytes}});
  }
  return tensors;
}

}  // namespace dsbench::core::safetensors
