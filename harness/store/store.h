// The run store: one SQLite file that keeps every run (its resolved config and hash),
// its work items, the artifacts they wrote, metric values and summaries, recorded
// director calls, benchmark results, stage timings and the embedding cache.
//
// Guarantees the executor builds on:
//   * every write is one transaction (BEGIN IMMEDIATE), so a process killed at any
//     moment leaves either the old or the new state;
//   * items are unique by (run, system, story, kind, index, seed): adding a plan twice,
//     or after a crash, never duplicates one;
//   * an item is finished by complete_item(), which writes its artifact rows and its
//     status in one transaction and is a no-op for an item already done;
//   * workers claim items with a lease; an item whose lease ran out (its worker died)
//     is claimed again, so several processes may share one store.
// Schema changes are forward migrations (PRAGMA user_version); old ones are never edited.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pipeline/director/call_store.h"

namespace dsbench::store {

using RunId = std::int64_t;
using ItemId = std::int64_t;

// The schema version this build writes; a store with a newer one is refused.
int current_schema_version();

struct NewRun {
  std::string name;
  std::string config_json;   // the resolved config, canonical dump
  std::string config_hash;
  std::string project_version;
  std::string host;
  std::string output_dir;    // the run's artifact root (absolute)
};

struct RunInfo {
  RunId id = 0;
  std::string name;
  std::string config_json;
  std::string config_hash;
  std::string project_version;
  std::string host;
  std::string output_dir;
  std::string status;        // created | running | finished | interrupted | failed | imported
  std::string message;
  std::string created_at;    // ISO-8601 UTC
  std::string started_at;
  std::string finished_at;
};

struct ItemKey {
  std::string system;
  std::string story;
  std::string kind;          // "portrait" | "scene"
  int index = 0;             // subject index (portrait) or scene index (scene)
  std::uint64_t seed = 0;
  bool operator==(const ItemKey&) const = default;
};

struct NewItem {
  ItemKey key;
  std::string group;         // items of one group are sharded together ("system/story/seed-S")
  double cost = 1.0;
  std::string label;         // subject name or "scene N"
};

struct ItemRow {
  ItemId id = 0;
  RunId run = 0;
  ItemKey key;
  std::string group;
  std::string label;
  double cost = 1.0;
  std::string status;        // pending | running | done | failed
  std::string worker;
  double lease_until = 0.0;  // unix seconds
  int attempts = 0;
  double seconds = 0.0;      // wall time of the successful attempt
  std::string error;
  nlohmann::json info = nlohmann::json::object();
};

struct ArtifactRecord {
  std::string kind;          // "portrait" | "scene" | "mask" | ...
  std::string name;          // unique within the item ("image", "target_mask_00", ...)
  std::string path;          // relative to the run's output_dir
  std::string sha256;
  std::int64_t bytes = 0;
};

struct ArtifactRow : ArtifactRecord {
  std::int64_t id = 0;
  ItemId item = 0;
  ItemKey key;               // of the item that wrote it
};

struct StatusCount {
  std::string system;
  std::string kind;
  std::string status;
  std::int64_t count = 0;
};

// A run's items per status, summed over systems and kinds.
struct StatusTotals {
  std::int64_t pending = 0;
  std::int64_t running = 0;
  std::int64_t done = 0;
  std::int64_t failed = 0;
  std::int64_t total = 0;    // every item, whatever its status
  std::int64_t unfinished() const { return pending + running; }
};

struct ClaimOptions {
  std::string worker;
  double lease_seconds = 600.0;
  // Only items of these groups (empty = every group): a shard's share of the run.
  std::vector<std::string> groups;
};

struct MetricValue {
  std::string system;
  std::string story;
  int scene = -1;            // -1 = story-level value
  std::uint64_t seed = 0;
  std::string metric;
  double value = 0.0;
  nlohmann::json extra = nlohmann::json::object();
};

struct MetricSummary {
  std::string system;
  std::string metric;
  std::string group_kind = "all";  // all | category | subjects | backend
  std::string group_value;         // "" for all
  std::int64_t n = 0;
  double mean = 0.0;
  double std = 0.0;
  double ci_low = 0.0;
  double ci_high = 0.0;
};

struct BenchmarkResult {
  std::optional<RunId> run;
  std::string suite;         // "kernels", "unet", "step", "metrics", ...
  std::string name;
  nlohmann::json params = nlohmann::json::object();
  double real_time = 0.0;
  double cpu_time = 0.0;
  std::string time_unit = "ns";
  std::int64_t iterations = 0;
  nlohmann::json counters = nlohmann::json::object();
  std::string host;
  std::string created_at;    // filled on read
};

struct StageTiming {
  std::string stage;
  std::string system;
  double seconds = 0.0;
  std::string worker;        // timings add up per (stage, system, worker)
};

struct Embedding {
  std::string image_sha256;
  std::vector<float> values;
};

class Store {
 public:
  // Opens (creating it and its parent folders if needed) and migrates the store at
  // `path`. InputError naming the file when it is not a SQLite database or was written by
  // a newer dsbench; RunError when it cannot be opened or written.
  static Store open(const std::filesystem::path& path);
  ~Store();
  Store(Store&&) noexcept;
  Store& operator=(Store&&) noexcept;

  const std::filesystem::path& path() const;
  int schema_version() const;
  // SQLite: RunError when the file at path() is gone or is no longer the file this Store
  // opened (deleted or replaced mid-run: later writes would land in an unlinked file and
  // be lost). A no-op for PostgreSQL.
  void check_still_in_place() const;

  // Runs `fn` holding a lock that every process using this database shares (PostgreSQL: a
  // session advisory lock, so run find-or-create and claims of workers on many machines
  // do not race with a starting worker's recovery). SQLite: runs `fn` without a lock
  // (processes sharing a SQLite file serialise on a lock file beside it).
  void with_run_lock(const std::function<void()>& fn);

  // Runs.
  RunId create_run(const NewRun& run);
  std::optional<RunInfo> find_run(RunId id) const;
  RunInfo get_run(RunId id) const;  // InputError "no run N in <file>"
  std::vector<RunInfo> runs_with_config_hash(const std::string& config_hash) const;  // newest first
  std::vector<RunInfo> list_runs() const;                                            // newest first
  void set_run_status(RunId id, const std::string& status, const std::string& message = "");

  // Work items.
  std::size_t add_items(RunId run, const std::vector<NewItem>& items);  // returns how many were new
  std::optional<ItemRow> claim_next_item(RunId run, const ClaimOptions& options);
  bool heartbeat(ItemId item, const std::string& worker, double lease_seconds);  // false = lost the lease
  bool complete_item(ItemId item, const nlohmann::json& info, double seconds,
                     const std::vector<ArtifactRecord>& artifacts);  // false = already done
  void fail_item(ItemId item, const std::string& error);
  std::size_t reset_unfinished(RunId run);  // running|failed -> pending; returns how many
  std::size_t release_worker(RunId run, const std::string& worker);  // running of a worker -> pending
  // A done item whose files turned out damaged goes back to pending (to be redrawn), its
  // artifact rows dropped, in one transaction. False when the item is not done.
  bool reset_done_item(ItemId item);
  // Pending scenes whose group has a failed portrait can never run: marks them failed
  // (naming the portrait) and returns how many.
  std::size_t fail_blocked_scenes(RunId run);
  std::optional<ItemRow> find_item(RunId run, const ItemKey& key) const;
  ItemRow get_item(ItemId id) const;
  std::vector<ItemRow> list_items(RunId run, const std::string& status = "") const;
  std::vector<StatusCount> status_counts(RunId run) const;
  StatusTotals totals(RunId run) const;  // status_counts() summed

  // Artifacts.
  std::vector<ArtifactRow> artifacts_of_item(ItemId item) const;
  std::vector<ArtifactRow> artifacts_of_run(RunId run) const;

  // Metrics.
  void put_metric_values(RunId run, const std::vector<MetricValue>& values);  // upsert by key
  std::vector<MetricValue> metric_values(RunId run, const std::string& metric = "") const;
  // Replaces every summary row of the systems named in `summaries`.
  void replace_metric_summaries(RunId run, const std::vector<MetricSummary>& summaries);
  std::vector<MetricSummary> metric_summaries(RunId run) const;

  // Benchmarks and timings.
  void add_benchmark_results(const std::vector<BenchmarkResult>& results);
  std::vector<BenchmarkResult> benchmark_results(std::optional<RunId> run = std::nullopt,
                                                 const std::string& suite = "") const;
  void add_stage_timings(RunId run, const std::vector<StageTiming>& timings);
  std::vector<StageTiming> stage_timings(RunId run) const;  // summed over workers per (stage, system)

  // Embedding cache, keyed by (image sha256, model, preprocessing version).
  std::vector<std::optional<std::vector<float>>> get_embeddings(const std::vector<std::string>& image_sha256,
                                                                const std::string& model,
                                                                const std::string& preprocessing) const;
  void put_embeddings(const std::vector<Embedding>& embeddings, const std::string& model,
                      const std::string& preprocessing);

  // SHA-256 of a file's content, memoised by (absolute path, size, modification time):
  // a rewritten file misses and is hashed again.
  std::string file_sha256(const std::filesystem::path& file);

  // Director calls (the SQLite CallStore below reads and writes these).
  std::optional<director::RecordedCall> find_director_call(const std::string& request_hash) const;
  void record_director_call(const director::RecordedCall& call, std::optional<RunId> run);
  std::size_t director_call_count() const;
  // A thread-safe CallStore on its own connection to this same store (SQLite or
  // PostgreSQL, credentials included), for the director's worker threads.
  std::shared_ptr<director::CallStore> open_call_store(std::optional<RunId> run) const;

  // Copies one run (with its items, artifacts, metrics, calls, timings, benchmarks) from
  // `source` into this store (`dsbench merge`). The run is matched by config hash: an
  // existing run with the same hash receives the items it lacks; finished items win over
  // unfinished ones. Returns the run id in this store.
  RunId merge_run_from(const Store& source, RunId source_run);

 private:
  struct Impl;
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A director::CallStore over a store's director_calls table (any backend: the name is
// historical). Owns its own connection so director threads never share the executor's;
// thread-safe. `store_location` is a SQLite path or a postgresql:// URL.
class SqliteCallStore : public director::CallStore {
 public:
  SqliteCallStore(const std::filesystem::path& store_path, std::optional<RunId> run);
  ~SqliteCallStore() override;
  std::optional<director::RecordedCall> find(const std::string& request_hash) override;
  void record(const director::RecordedCall& call) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// "2026-11-25T07:31:02Z" for now / unix seconds for now.
std::string utc_now_iso();
double unix_now();

}  // namespace dsbench::store
