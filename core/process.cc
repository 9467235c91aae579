#include "core/process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "core/errors.h"

extern char** environ;

namespace dsbench::core {
namespace {

constexpr std::size_t kStderrTail = 4096;

class FileActions {
 public:
  FileActions() { posix_spawn_file_actions_init(&actions_); }
  ~FileActions() { posix_spawn_file_actions_destroy(&actions_); }
  FileActions(const FileActions&) = delete;
  FileActions& operator=(const FileActions&) = delete;
  posix_spawn_file_actions_t* get() { return &actions_; }

 private:
  posix_spawn_file_actions_t actions_;
};

// Reads what is available without blocking; keeps the tail.
void drain(int fd, std::string& tail) {
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n <= 0) return;
    tail.append(buffer, static_cast<std::size_t>(n));
    if (tail.size() > 2 * kStderrTail) tail.erase(0, tail.size() - kStderrTail);
  }
}

}  // namespace

CommandResult run_command(const std::string& command, const std::filesystem::path& input,
                          const std::filesystem::path& output, double timeout_s) {
  int err_pipe[2];
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) throw RunError("cannot create a pipe: " + std::string(std::strerror(errno)));
  FileActions actions;
  posix_spawn_file_actions_addopen(actions.get(), STDIN_FILENO, input.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(actions.get(), STDOUT_FILENO, output.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(actions.get(), err_pipe[1], STDERR_FILENO);
  std::vector<char*> argv{const_cast<char*>("/bin/sh"), const_cast<char*>("-c"), const_cast<char*>(command.c_str()),
                          nullptr};
  // Its own process group, so a timeout kills what the shell started too.
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attributes, 0);
  pid_t pid = 0;
  const int spawned = ::posix_spawn(&pid, "/bin/sh", actions.get(), &attributes, argv.data(), environ);
  posix_spawnattr_destroy(&attributes);
  ::close(err_pipe[1]);
  if (spawned != 0) {
    ::close(err_pipe[0]);
    throw RunError("cannot start '" + command + "': " + std::strerror(spawned));
  }
  ::fcntl(err_pipe[0], F_SETFL, O_NONBLOCK);

  CommandResult result;
  const auto started = std::chrono::steady_clock::now();
  int status = 0;
  for (;;) {
    drain(err_pipe[0], result.stderr_tail);
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (done < 0 && errno != EINTR) break;
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    if (timeout_s > 0 && elapsed > timeout_s && !result.timed_out) {
      result.timed_out = true;
      ::kill(-pid, SIGKILL);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  drain(err_pipe[0], result.stderr_tail);
  ::close(err_pipe[0]);
  if (result.stderr_tail.size() > kStderrTail) result.stderr_tail.erase(0, result.stderr_tail.size() - kStderrTail);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  return result;
}

}  // namespace dsbench::core
