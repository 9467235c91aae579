// SHA-256 (OpenSSL) for artifacts, config hashes and cache keys.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

namespace dsbench::core {

// Incremental hasher; `hex_digest()` finishes it.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(const void* data, std::size_t size);
  void update(std::string_view text) { update(text.data(), text.size()); }
  std::string hex_digest();  // 64 lower-case hex chars

 private:
  struct State;
  std::unique_ptr<State> state_;
};

std::string sha256_hex(std::string_view bytes);
std::string sha256_file(const std::filesystem::path& path);  // throws RunError on I/O failure

// A fast non-cryptographic 64-bit hash (FNV-1a) for stable partitioning and seeds.
std::uint64_t stable_hash64(std::string_view bytes);

}  // namespace dsbench::core
