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

}  // namespace dsbench::core
