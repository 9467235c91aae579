#include "harness/executor/claims.h"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <set>
#include <sys/file.h>
#include <unistd.h>

#include "core/errors.h"

namespace dsbench::executor {

std::string host_name() {
  char buffer[256] = {};
  if (::gethostname(buffer, sizeof buffer - 1) != 0) return "localhost";
  return buffer;
}

std::string default_worker_id() { return host_name() + ":" + std::to_string(::getpid()); }

bool is_dead_local_worker(const std::string& worker) {
  const auto colon = worker.rfind(':');
  if (colon == std::string::npos || worker.substr(0, colon) != host_name()) return false;
  try {
    const int pid = std::stoi(worker.substr(colon + 1));
    if (pid <= 0) return false;
    return ::kill(pid, 0) != 0 && errno == ESRCH;
  } catch (const std::exception&) {
    return false;
  }
}

std::size_t release_dead_local_workers(store::Store& store, store::RunId run) {
  std::set<std::string> dead;
  for (const auto& item : store.list_items(run, "running")) {
    if (is_dead_local_worker(item.worker)) dead.insert(item.worker);
  }
  std::size_t released = 0;
  for (const auto& worker : dead) released += store.release_worker(run, worker);
  return released;
}

StoreLock::StoreLock(const std::filesystem::path& store_path) {
  const std::string path = store_path.string() + ".lock";
  descriptor_ = ::open(path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
  if (descriptor_ < 0) throw core::RunError("cannot create the lock file " + path);
  while (::flock(descriptor_, LOCK_EX) != 0) {
    if (errno != EINTR) {
      ::close(descriptor_);
      throw core::RunError("cannot lock " + path);
    }
  }
}

StoreLock::~StoreLock() {
  ::flock(descriptor_, LOCK_UN);
  ::close(descriptor_);
}

Heartbeat::Heartbeat(store::Store& store, std::string worker, double lease_seconds, double interval_seconds)
    : store_(store), worker_(std::move(worker)), lease_(lease_seconds), interval_(interval_seconds),
      thread_([this] { loop(); }) {}

Heartbeat::~Heartbeat() {
  {
    const std::lock_guard lock(mutex_);
    quit_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void Heartbeat::begin(store::ItemId item) {
  const std::lock_guard lock(mutex_);
  item_ = item;
  lost_ = false;
}

bool Heartbeat::end() {
  const std::lock_guard lock(mutex_);
  item_ = 0;
  return lost_;
}

void Heartbeat::loop() {
  std::unique_lock lock(mutex_);
  while (!quit_) {
    wake_.wait_for(lock, std::chrono::duration<double>(interval_));
    if (quit_ || item_ == 0) continue;
    const store::ItemId item = item_;
    lock.unlock();
    bool kept = true;
    try {
      kept = store_.heartbeat(item, worker_, lease_);
    } catch (const std::exception&) {
      // A busy or briefly unavailable store: the next beat tries again.
    }
    lock.lock();
    if (!kept && item_ == item) lost_ = true;
  }
}

}  // namespace dsbench::executor
