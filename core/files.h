// File IO with the guarantees resume relies on: a file either has its complete new
// content or does not exist under its final name.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace dsbench::core {

// Whole file as bytes; InputError naming the path if it cannot be read.
std::string read_file(const std::filesystem::path& path);

// Writes to "<path>.tmp-<pid>-<n>", fsyncs, then renames over `path` (atomic on POSIX).
// Parent directories are created. RunError naming the path on failure (e.g. disk full).
void write_file_atomic(const std::filesystem::path& path, std::string_view bytes);

// A fresh private directory under the system's temporary folder ($TMPDIR), removed with
// everything in it when this object goes away. RunError if it cannot be made.
class TemporaryDirectory {
 public:
  explicit TemporaryDirectory(const std::string& prefix);
  ~TemporaryDirectory();
  TemporaryDirectory(const TemporaryDirectory&) = delete;
  TemporaryDirectory& operator=(const TemporaryDirectory&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace dsbench::core
