#include "core/files.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "core/errors.h"

namespace dsbench::core {
namespace {

namespace fs = std::filesystem;

fs::path fresh_dir(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("dsbench-core-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  return dir;
}

TEST(Files, AtomicWriteCreatesParentsAndLeavesNoTemporaries) {
  const fs::path dir = fresh_dir("atomic");
  write_file_atomic(dir / "a" / "b.bin", std::string("hello\0world", 11));
  EXPECT_EQ(read_file(dir / "a" / "b.bin"), std::string("hello\0world", 11));
  write_file_atomic(dir / "a" / "b.bin", "second");
  EXPECT_EQ(read_file(dir / "a" / "b.bin"), "second");
  int entries = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(dir / "a")) ++entries;
  EXPECT_EQ(entries, 1);
  fs::remove_all(dir);
}

TEST(Files, ReadingAMissingFileNamesIt) {
  try {
    read_file("/nonexistent/dsbench/file.txt");
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/dsbench/file.txt"), std::string::npos);
  }
}

TEST(Files, WritingIntoAFileAsDirectoryFailsWithRunError) {
  const fs::path dir = fresh_dir("blocked");
  write_file_atomic(dir / "plain", "x");
  EXPECT_THROW(write_file_atomic(dir / "plain" / "child", "y"), RunError);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace dsbench::core
