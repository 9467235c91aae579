// Running a user-given shell command as a batch filter: stdin from a file, stdout to a
// file, stderr kept for the error message, killed after a timeout. Used for plug-ins
// that live outside dsbench (an open-vocabulary detector written in Python, say).
#pragma once

#include <filesystem>
#include <string>

namespace dsbench::core {

struct CommandResult {
  int exit_code = 0;        // the command's status; 128 + N when killed by signal N
  bool timed_out = false;   // killed by us after timeout_s
  std::string stderr_tail;  // the last few KiB of what it wrote to stderr
};

// Runs `/bin/sh -c command` with stdin read from `input` and stdout written to `output`
// (created or truncated). timeout_s <= 0: no limit. RunError when the process cannot be
// started or the files cannot be opened; a failing command is reported in the result,
// not thrown, so the caller can say what the command was for.
CommandResult run_command(const std::string& command, const std::filesystem::path& input,
                          const std::filesystem::path& output, double timeout_s);

}  // namespace dsbench::core
