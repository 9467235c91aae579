// Runs a shell command for the tests that drive the built executables: its exit code and
// everything it printed. Header-only so any test binary can include it without a library.
#pragma once

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <string>

namespace dsbench::testing {

struct CommandResult {
  int exit_code = -1;   // -1: the shell could not be started or the command died of a signal
  std::string output;   // stdout and stderr together, interleaved as printed
};

// `command` runs under /bin/sh with its stderr sent to stdout.
inline CommandResult run_command(const std::string& command) {
  CommandResult result;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  std::array<char, 4096> buffer{};
  while (const std::size_t n = std::fread(buffer.data(), 1, buffer.size(), pipe)) result.output.append(buffer.data(), n);
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

// The dsbench executable of this build tree (tests skip when it has not been built).
inline std::filesystem::path dsbench_executable() { return std::filesystem::path(DSBENCH_BINARY_DIR) / "dsbench"; }

// `dsbench <arguments>`; the arguments are shell text, quoted by the caller.
inline CommandResult run_dsbench(const std::string& arguments) {
  return run_command("'" + dsbench_executable().string() + "' " + arguments);
}

}  // namespace dsbench::testing
