// core::run_command: a shell filter with files for stdin/stdout, its status, its stderr,
// a timeout; and core::TemporaryDirectory's cleanup.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>

#include "core/errors.h"
#include "core/files.h"
#include "core/process.h"

namespace dsbench::core {
namespace {

namespace fs = std::filesystem;

TEST(RunCommand, FiltersStdinToStdoutAndReportsSuccess) {
  const TemporaryDirectory dir("dsbench-process-test");
  write_file_atomic(dir.path() / "in.txt", "b\na\nc\n");
  const auto result = run_command("sort", dir.path() / "in.txt", dir.path() / "out.txt", 30);
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_FALSE(result.timed_out);
  EXPECT_EQ(read_file(dir.path() / "out.txt"), "a\nb\nc\n");
}

TEST(RunCommand, ReportsExitStatusAndStderrTail) {
  const TemporaryDirectory dir("dsbench-process-test");
  write_file_atomic(dir.path() / "in.txt", "");
  const auto result = run_command("echo 'model file missing' >&2; exit 7", dir.path() / "in.txt",
                                  dir.path() / "out.txt", 30);
  EXPECT_EQ(result.exit_code, 7);
  EXPECT_NE(result.stderr_tail.find("model file missing"), std::string::npos);
}

TEST(RunCommand, KeepsOnlyTheTailOfLongStderr) {
  const TemporaryDirectory dir("dsbench-process-test");
  write_file_atomic(dir.path() / "in.txt", "");
  const auto result = run_command("i=0; while [ $i -lt 3000 ]; do echo line-$i >&2; i=$((i+1)); done; echo END >&2",
                                  dir.path() / "in.txt", dir.path() / "out.txt", 60);
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_LE(result.stderr_tail.size(), 4096u);
  EXPECT_NE(result.stderr_tail.find("END"), std::string::npos);
  EXPECT_EQ(result.stderr_tail.find("line-0\n"), std::string::npos);
}

TEST(RunCommand, KillsACommandPastItsTimeout) {
  const TemporaryDirectory dir("dsbench-process-test");
  write_file_atomic(dir.path() / "in.txt", "");
  const auto started = std::chrono::steady_clock::now();
  // Not exec'd: the shell waits for its child, and both must go.
  const auto result = run_command("sleep 30; echo done", dir.path() / "in.txt", dir.path() / "out.txt", 0.3);
  EXPECT_TRUE(result.timed_out);
  EXPECT_EQ(result.exit_code, 128 + 9);
  EXPECT_EQ(read_file(dir.path() / "out.txt"), "");
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(), 20.0);
}

TEST(RunCommand, UnknownCommandIsAShellFailureNotACrash) {
  const TemporaryDirectory dir("dsbench-process-test");
  write_file_atomic(dir.path() / "in.txt", "");
  const auto result = run_command("no-such-program-dsbench", dir.path() / "in.txt", dir.path() / "out.txt", 30);
  EXPECT_EQ(result.exit_code, 127);
  EXPECT_NE(result.stderr_tail.find("not found"), std::string::npos);
}

TEST(RunCommand, MissingInputFileIsARunError) {
  const TemporaryDirectory dir("dsbench-process-test");
  EXPECT_THROW(run_command("cat", dir.path() / "absent.txt", dir.path() / "out.txt", 30), RunError);
}

TEST(TemporaryDirectory, IsRemovedWithItsContents) {
  fs::path kept;
  {
    const TemporaryDirectory dir("dsbench-process-test");
    kept = dir.path();
    write_file_atomic(kept / "sub/file.txt", "x");
    EXPECT_TRUE(fs::is_directory(kept));
  }
  EXPECT_FALSE(fs::exists(kept));
}

}  // namespace
}  // namespace dsbench::core
