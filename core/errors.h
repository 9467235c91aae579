// Errors carry enough context for a user to fix the input without reading code:
// which file, which line or field, what was expected. They are thrown anywhere and
// caught once, at the CLI edge, which prints them and exits with their code.
#pragma once

#include <stdexcept>
#include <string>

namespace dsbench::core {

// Process exit codes, documented in the README. Values are part of the CLI contract.
enum class ExitCode : int {
  kOk = 0,
  kRunFailure = 1,    // the run itself failed (an item failed, interrupted, I/O)
  kInputError = 2,    // usage, config or data error: the user must change the input
  kRegression = 3,    // `dsbench compare` found a regression
};

// Where in a user-provided input a problem was found. Any part may be empty/zero.
struct Location {
  std::string file;
  int line = 0;        // 1-based; 0 = unknown
  std::string field;   // dotted path such as "sampler.steps" or "scenes[3].subjects"

  std::string to_string() const;  // "file:line: field" with the empty parts left out
};

class Error : public std::runtime_error {
 public:
  Error(ExitCode code, const std::string& message)
      : std::runtime_error(message), code_(code) {}
  ExitCode code() const { return code_; }

 private:
  ExitCode code_;
};

// A problem with what the user gave us (arguments, config, dataset, weights file).
class InputError : public Error {
 public:
  explicit InputError(const std::string& message) : Error(ExitCode::kInputError, message) {}
  InputError(const Location& where, const std::string& message);
  const Location& where() const { return where_; }

 private:
  Location where_;
};

// A failure while running (I/O, an item that could not be produced, interruption).
class RunError : public Error {
 public:
  explicit RunError(const std::string& message) : Error(ExitCode::kRunFailure, message) {}
};

}  // namespace dsbench::core
