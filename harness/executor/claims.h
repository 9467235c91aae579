// Claims between workers of one store (internal to the executor): the lock file that
// serialises run creation and claims, the heartbeat that keeps a claim's lease alive,
// and the recognition of dead workers of this host.
#pragma once

#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>

#include "harness/store/store.h"

namespace dsbench::executor {

std::string host_name();
std::string default_worker_id();  // "<host>:<pid>"

// A worker id "host:pid" of this host whose process is gone: its claims can be released
// at once instead of waiting for the lease to run out.
bool is_dead_local_worker(const std::string& worker);

// Puts the running items of dead workers of this host back to pending; returns how many.
std::size_t release_dead_local_workers(store::Store& store, store::RunId run);

// Serialises run lookup/creation (and claims) between processes on one store, with an
// exclusive flock on "<store>.lock", so two workers started together join one run
// instead of creating two.
class StoreLock {
 public:
  explicit StoreLock(const std::filesystem::path& store_path);
  ~StoreLock();
  StoreLock(const StoreLock&) = delete;
  StoreLock& operator=(const StoreLock&) = delete;

 private:
  int descriptor_ = -1;
};

// Renews the lease of the item being worked on, from its own thread, so that a long item
// is not reclaimed by another worker while this one is alive.
class Heartbeat {
 public:
  Heartbeat(store::Store& store, std::string worker, double lease_seconds, double interval_seconds);
  ~Heartbeat();
  Heartbeat(const Heartbeat&) = delete;
  Heartbeat& operator=(const Heartbeat&) = delete;

  void begin(store::ItemId item);
  bool end();  // whether the lease was lost while the item ran

 private:
  void loop();

  store::Store& store_;
  const std::string worker_;
  const double lease_;
  const double interval_;
  std::mutex mutex_;
  std::condition_variable wake_;
  store::ItemId item_ = 0;
  bool lost_ = false;
  bool quit_ = false;
  std::thread thread_;
};

}  // namespace dsbench::executor
