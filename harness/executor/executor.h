// The executor: runs a plan's work items through story-visualization systems and
// records every finished image in the run store, so that a run killed at any point
// (SIGKILL included) resumes to the same final set of items, each exactly once.
//
// One call of execute() is one worker. Several workers (processes, machines sharing a
// PostgreSQL store) may run the same config at once: each claims items with a lease it
// renews (heartbeat) while it works; an item whose lease ran out (its worker died) is
// claimed again. Systems know nothing of stores; this library knows nothing of the CLI.
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>

#include "core/errors.h"
#include "harness/config/config.h"
#include "harness/planning/plan.h"
#include "pipeline/systems/registry.h"
#include "pipeline/systems/system.h"

namespace dsbench::executor {

// Makes the System of one config entry (the CLI passes systems::create_system; tests a
// test-only system). Called once per system that has work in this process.
using SystemFactory = std::function<std::unique_ptr<systems::System>(const harness::SystemConfig& system,
                                                                     const systems::ModelSettings& model)>;

struct Options {
  // The store: a SQLite file or a postgresql:// URL; empty = the config's store.url. Not
  // part of the config (the hash stays). SQLite with a shard K/N of more than one: the
  // file is "<stem>.shard-K-of-N<ext>" beside it, so every shard writes its own file
  // (`dsbench merge` joins them). PostgreSQL: every worker and shard shares the database.
  std::filesystem::path store_path;
  std::string resume_run;                    // a run id to resume; empty = find by config hash or create
  std::optional<planning::ShardSpec> shard;  // only this shard's groups
  std::string worker_id;                     // empty = "<host>:<pid>"
  double lease_seconds = 600.0;              // how long a claim lives without a heartbeat
  double heartbeat_seconds = 0.0;            // 0 = lease / 4
  std::ostream* progress = nullptr;          // null = no progress output
  bool progress_terminal = false;            // one redrawn bar instead of periodic lines
  double progress_interval_seconds = 10.0;
  std::ostream* log = nullptr;               // notes: resume, failed items, stage timings
  bool no_cache = false;                     // the director asks its LLM endpoints again (directing::Options)
  std::size_t max_items = 0;                 // stop after this many items (0 = all); tests
  // Stop between items when this returns true (in addition to SIGINT/SIGTERM, which the
  // caller routes here with StopSignals).
  std::function<bool()> stop_requested;
  // Fault-injection tests: called at "claimed", "generated", "file_written" (after each
  // image is renamed into place), "before_complete" and "completed".
  std::function<void(const std::string& event)> test_hook;
};

struct Outcome {
  std::string run_id;
  std::string status;                   // the run's status when this worker left it
  bool resumed = false;                 // an existing run was continued
  std::size_t planned = 0;              // items of the run (this shard)
  std::size_t done_before = 0;          // already finished when this worker started
  std::size_t completed = 0;            // finished ok by this worker
  std::size_t failed = 0;               // failed by this worker
  std::size_t failed_total = 0;         // failed items in the run
  std::size_t remaining = 0;            // items neither done nor failed when this worker left
  bool interrupted = false;
  std::map<std::string, double> stage_seconds;  // "direct", "load_portraits", "portrait", "scene", "write", "store"
  std::filesystem::path run_dir;        // output_dir/run-<id>
  std::filesystem::path store_path;     // the store file this worker used

  core::ExitCode exit_code() const;     // 0 only when the run finished without failures
};

// Runs (or resumes) `config`: plans it (this shard's groups), finds its unfinished run
// by config hash (or options.resume_run) or creates one, directs the stories, adds the
// items (idempotently) and works until no item is open or a stop is requested. Waits for
// items other workers hold, and takes over those whose lease runs out. An item that
// throws is marked failed and the run goes on. InputError for bad input (unknown system
// type, bad params, a run of another config); RunError when the store fails.
Outcome execute(const harness::RunConfig& config, const Options& options, const SystemFactory& make_system);

// The resolved config a run was made with, from its store (`dsbench run --resume RUN`
// without --config). InputError when the run does not exist.
harness::RunConfig config_of_run(const std::filesystem::path& store_path, const std::string& run_id);

// Where an item's images go, relative to the run directory:
// <system>/<story>/seed-<s>/portrait_<subject>.png | scene_<NN>.png, side images as
// <stem>.<side name>.png. Names are made filesystem-safe (keeps [A-Za-z0-9._-]).
std::filesystem::path item_image_path(const planning::ItemKey& key, const std::string& subject_name);
std::filesystem::path side_image_path(const planning::ItemKey& key, const std::string& subject_name,
                                      const std::string& side_name);
std::string safe_file_name(const std::string& text);

}  // namespace dsbench::executor
