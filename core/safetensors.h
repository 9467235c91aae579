// The safetensors format (https://github.com/huggingface/safetensors): an 8-byte
// little-endian header length, a JSON header naming every tensor's dtype, shape and byte
// range, then the raw little-endian data. Reading maps the file; nothing here knows
// about torch (pipeline/diffusion/weights turns these views into tensors).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace dsbench::core::safetensors {

enum class DType { kF64, kF32, kF16, kBF16, kI64, kI32, kI16, kI8, kU8, kBool };

std::size_t dtype_size(DType dtype);
std::string dtype_name(DType dtype);  // "F32", "F16", ...

struct TensorView {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<std::int64_t> shape;
  const std::uint8_t* data = nullptr;  // valid while the File lives
  std::size_t bytes = 0;

  std::int64_t numel() const;
};

// A validated, memory-mapped safetensors file. Every problem (truncated file, header
// length past the end, bad JSON, unknown dtype, offsets out of range or overlapping, byte
// count not matching the shape) is an InputError naming the file and the tensor.
class File {
 public:
  static File open(const std::filesystem::path& path);
  ~File();
  File(File&&) noexcept;
  File& operator=(File&&) noexcept;

  const std::filesystem::path& path() const { return path_; }
  bool contains(const std::string& name) const { return tensors_.count(name) != 0; }
  const TensorView& tensor(const std::string& name) const;  // InputError if absent
  std::vector<std::string> names() const;                   // sorted
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  File() = default;
  struct Mapping;
  std::filesystem::path path_;
  std::unique_ptr<Mapping> mapping_;
  std::map<std::string, TensorView> tensors_;
  std::map<std::string, std::string> metadata_;
};

// Tensors to write; `data` must hold numel * dtype_size bytes, little-endian.
struct OwnedTensor {
  DType dtype = DType::kF32;
  std::vector<std::int64_t> shape;
  std::vector<std::uint8_t> data;
};

// Serialises tensors (sorted by name, 8-byte aligned header) to bytes / atomically to disk.
std::string serialize(const std::map<std::string, OwnedTensor>& tensors,
                      const std::map<std::string, std::string>& metadata = {});
void write(const std::filesystem::path& path, const std::map<std::string, OwnedTensor>& tensors,
           const std::map<std::string, std::string>& metadata = {});

// Every tensor of a file, copied out of the mapping (for editing and writing back);
// errors as File::open.
std::map<std::string, OwnedTensor> read_all(const std::filesystem::path& path);

// IEEE half / bfloat16 <-> float conversions (round-to-nearest-even on the way down).
float half_to_float(std::uint16_t bits);
float bf16_to_float(std::uint16_t bits);
std::uint16_t float_to_half(float value);
std::uint16_t float_to_bf16(float value);

}  // namespace dsbench::core::safetensors
