// The executor loop. Crash safety comes from the order of effects: an item's images are
// written to temporary names and renamed (core/files.h) before the one transaction that
// records them and marks the item done (store.h). A worker killed anywhere leaves at
// worst renamed files without a row or temporary files; the next worker to claim the
// item removes the item's temporaries and overwrites its files, and only its commit
// counts. Temporaries left by items that never rerun are swept when the run ends.
#include "harness/executor/executor.h"

#include <algorithm>
#include <chrono>
#include <set>
#include <thread>

#include "core/files.h"
#include "core/hashing.h"
#include "core/image.h"
#include "harness/directing/directing.h"
#include "harness/executor/claims.h"
#include "harness/executor/progress.h"
#include "harness/store/store.h"
#include "pipeline/director/director.h"

namespace dsbench::executor {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

store::ItemKey to_store_key(const planning::ItemKey& key) {
  return store::ItemKey{key.system, key.story, planning::kind_name(key.kind), key.index, key.seed};
}

planning::ItemKey from_store_key(const store::ItemKey& key) {
  return planning::ItemKey{key.system, key.story, planning::parse_kind(key.kind), key.index, key.seed};
}

// Seconds per (stage, system), flushed to the store now and then and at the end.
class StageTimes {
 public:
  void add(const std::string& stage, const std::string& system, double seconds) {
    pending_[{stage, system}] += seconds;
    totals_[stage] += seconds;
  }
  void flush(store::Store& store, store::RunId run, const std::string& worker) {
    if (pending_.empty()) return;
    std::vector<store::StageTiming> timings;
    for (const auto& [key, seconds] : pending_) timings.push_back({key.first, key.second, seconds, worker});
    store.add_stage_timings(run, timings);
    pending_.clear();
  }
  const std::map<std::string, double>& totals() const { return totals_; }

 private:
  std::map<std::pair<std::string, std::string>, double> pending_;
  std::map<std::string, double> totals_;
};

struct Counts {
  std::size_t pending = 0, running = 0, done = 0, failed = 0;
  std::size_t total() const { return pending + running + done + failed; }
  std::size_t open() const { return pending + running; }
};

Counts count_items(const store::Store& store, store::RunId run, const std::set<std::string>* groups) {
  Counts counts;
  const auto tally = [&](const std::string& status, std::size_t n) {
    if (status == "pending") counts.pending += n;
    if (status == "running") counts.running += n;
    if (status == "done") counts.done += n;
    if (status == "failed") counts.failed += n;
  };
  if (groups == nullptr) {
    for (const auto& count : store.status_counts(run)) tally(count.status, static_cast<std::size_t>(count.count));
  } else {
    for (const auto& item : store.list_items(run)) {
      if (groups->count(item.group)) tally(item.status, 1);
    }
  }
  return counts;
}

void emit(const Options& options, const std::string& event) {
  if (options.test_hook) options.test_hook(event);
}

void log_line(const Options& options, const std::string& line) {
  if (options.log != nullptr) *options.log << line << "\n" << std::flush;
}

bool is_database_url(const std::string& url) { return url.find("://") != std::string::npos; }

// The store of this process. A SQLite shard writes its own file next to the configured
// one, so shards on many machines never share a SQLite file (`dsbench merge` joins
// them); PostgreSQL is made for sharing: every shard and worker uses the one database.
std::filesystem::path resolve_store_path(const harness::RunConfig& config, const Options& options) {
  const std::string url = options.store_path.empty() ? config.store.url : options.store_path.string();
  if (is_database_url(url)) {
    if (url.starts_with("postgresql://") || url.starts_with("postgres://")) return url;
    throw core::InputError(core::Location{config.source, 0, "store.url"},
                           "a SQLite file path or a postgresql:// URL, got '" + url + "'");
  }
  std::filesystem::path path = url;
  if (options.shard && options.shard->count > 1) {
    path.replace_filename(path.stem().string() + ".shard-" + std::to_string(options.shard->index) + "-of-" +
                          std::to_string(options.shard->count) + path.extension().string());
  }
  return path;
}

// Writing an item's images failed: a problem of the output folder, not of the item.
struct OutputError : core::RunError {
  using core::RunError::RunError;
};

// A scene found one of its portraits' files missing or changed on disk: the portrait is
// redrawn and the scene retried, rather than the scene failing for a damaged input.
struct DamagedPortrait : core::RunError {
  DamagedPortrait(store::ItemId item, const std::string& message) : core::RunError(message), portrait(item) {}
  store::ItemId portrait;
};

// Everything one item needs: its group in the plan and the director's plan of the story.
// What the director asked of the item, stored with it so that evaluation (CLIP-T's
// text, a detector's queries, the subjects of a scene) needs neither the dataset nor
// the director again.
nlohmann::json plan_facts(const planning::ItemKey& key, const director::StoryPlan& plan) {
  const auto subject_facts = [&](int s) {
    const auto& subject = plan.subjects.at(static_cast<std::size_t>(s));
    return nlohmann::json{{"index", s}, {"name", subject.name}, {"keyword", subject.kind}};
  };
  if (key.kind == planning::ItemKind::kPortrait) {
    if (key.index < 0 || static_cast<std::size_t>(key.index) >= plan.subjects.size()) return nullptr;
    auto facts = subject_facts(key.index);
    facts["prompt"] = plan.subjects[static_cast<std::size_t>(key.index)].portrait_prompt;
    return facts;
  }
  if (key.index < 0 || static_cast<std::size_t>(key.index) >= plan.scenes.size()) return nullptr;
  const auto& scene = plan.scenes[static_cast<std::size_t>(key.index)];
  nlohmann::json subjects = nlohmann::json::array();
  for (const int s : scene.subjects) subjects.push_back(subject_facts(s));
  return {{"prompt", scene.prompt}, {"rewritten_prompt", scene.rewritten_prompt}, {"subjects", subjects}};
}

struct GroupContext {
  const planning::PlanGroup* group = nullptr;
  const director::StoryPlan* story_plan = nullptr;
};

class Worker {
 public:
  Worker(const harness::RunConfig& config, const Options& options, const SystemFactory& make_system,
         const std::filesystem::path& store_path)
      : config_(config), options_(options), make_system_(make_system), store_path_(store_path),
        worker_(options.worker_id.empty() ? default_worker_id() : options.worker_id),
        store_(store::Store::open(store_path)) {}

  Outcome run();

 private:
  void plan_run();
  void open_run();
  void find_or_create_run();
  void recover_claims();
  void direct_stories();
  void add_items();
  void work();
  void process(const store::ItemRow& item);
  void repair_portrait(const planning::ItemKey& key, const DamagedPortrait& damaged);
  systems::SystemOutput draw(const planning::ItemKey& key, const GroupContext& context, systems::System& system);
  std::vector<systems::Portrait> load_portraits(const planning::ItemKey& scene, const GroupContext& context);
  std::vector<store::ArtifactRecord> write_images(const planning::ItemKey& key, const std::string& subject_name,
                                                  const systems::SystemOutput& output);
  void remove_temporaries(const planning::ItemKey& key, const std::string& subject_name);
  void sweep_temporaries();
  systems::System& system_for(const planning::PlanGroup& group);
  // Claims are serialised with open_run()'s recovery: a worker that starts and finds no
  // live claim may reset unfinished items, which must not catch another worker's claim
  // made in between. SQLite: the store's lock file; PostgreSQL: an advisory lock.
  template <typename Fn>
  void locked(const Fn& fn) {
    if (is_database_url(store_path_.string())) {
      store_.with_run_lock(fn);
    } else {
      const StoreLock lock(store_path_);
      fn();
    }
  }
  std::optional<store::ItemRow> claim_next(const store::ClaimOptions& claim) {
    std::optional<store::ItemRow> item;
    locked([&] { item = store_.claim_next_item(run_, claim); });
    return item;
  }
  bool stop_requested() const { return options_.stop_requested && options_.stop_requested(); }
  void finish_run();
  void refresh_progress(bool force);

  const harness::RunConfig& config_;
  const Options& options_;
  const SystemFactory& make_system_;
  const std::filesystem::path store_path_;
  const std::string worker_;
  store::Store store_;

  datasets::Dataset selected_;
  planning::Plan plan_;
  std::map<std::string, planning::PlanGroup*> groups_by_key_;
  std::set<std::string> group_keys_;
  std::map<std::pair<std::string, std::string>, director::StoryPlan> story_plans_;  // (director, story)
  std::vector<std::string> direction_errors_;
  std::map<std::string, std::unique_ptr<systems::System>> systems_;
  std::map<store::ItemId, int> portrait_repairs_;  // portrait item -> times this worker redrew it
  StageTimes times_;
  std::unique_ptr<Progress> progress_;
  Clock::time_point last_count_refresh_{};
  Clock::time_point last_timing_flush_ = Clock::now();
  Outcome outcome_;
  store::RunId run_ = 0;
  std::string run_prefix_;  // "run-<id>": artifact paths are relative to config.output_dir
};

Outcome Worker::run() {
  plan_run();
  open_run();
  try {
    direct_stories();
    add_items();
    work();
  } catch (const std::exception& error) {
    // Leave the store consistent for a resume: our claim back to pending, the reason on
    // the run.
    store_.release_worker(run_, worker_);
    store_.set_run_status(run_, "failed", error.what());
    throw;
  }
  finish_run();
  return outcome_;
}

void Worker::plan_run() {
  selected_ = planning::load_selected_dataset(config_);
  plan_ = planning::make_plan(config_, selected_);
  if (options_.shard) plan_ = planning::shard(plan_, options_.shard->index, options_.shard->count);
  for (auto& group : plan_.groups) {
    groups_by_key_[group.key()] = &group;
    group_keys_.insert(group.key());
  }
}

store::RunId parse_run_id(const std::string& text) {
  try {
    std::size_t used = 0;
    const store::RunId id = std::stoll(text, &used);
    if (used == text.size() && id > 0) return id;
  } catch (const std::exception&) {
  }
  throw core::InputError(core::Location{"", 0, "--resume"}, "a run id (a positive integer), got '" + text + "'");
}

void Worker::open_run() {
  locked([this] { find_or_create_run(); });
  store_.set_run_status(run_, "running");
  run_prefix_ = "run-" + std::to_string(run_);
  outcome_.run_id = std::to_string(run_);
  outcome_.store_path = store_path_;
  outcome_.run_dir = std::filesystem::path(config_.output_dir) / run_prefix_;
  log_line(options_, (outcome_.resumed ? "resuming run " : "started run ") + outcome_.run_id + " in " +
                         store_.path().string() + " (worker " + worker_ + ")");
}

void Worker::find_or_create_run() {
  if (!options_.resume_run.empty()) {
    const store::RunId id = parse_run_id(options_.resume_run);
    const store::RunInfo info = store_.get_run(id);
    if (info.config_hash != config_.hash) {
      throw core::InputError(core::Location{"", 0, "--resume"},
                             "run " + std::to_string(id) + " in " + store_.path().string() + " was made with config hash " +
                                 info.config_hash.substr(0, 12) + ", this config has " + config_.hash.substr(0, 12) +
                                 " (pass the config the run was made with)");
    }
    run_ = id;
    outcome_.resumed = true;
  } else if (const auto runs = store_.runs_with_config_hash(config_.hash); !runs.empty()) {
    // A config names its run: running it again completes that run (a finished one has
    // nothing left to do; failed items are retried).
    run_ = runs.front().id;
    outcome_.resumed = true;
  }
  if (run_ == 0) {
    store::NewRun run;
    run.name = config_.name;
    run.config_json = config_.resolved.dump();
    run.config_hash = config_.hash;
    run.project_version = DSBENCH_PROJECT_VERSION;
    run.host = host_name();
    run.output_dir = config_.output_dir;
    run_ = store_.create_run(run);
  } else {
    recover_claims();
  }
}

// Claims of workers that died are released: at once for dead processes of this host;
// others wait for their lease. Failed items are retried only when no other worker is
// live on the run (resetting them under a live worker could redo its item twice).
void Worker::recover_claims() {
  const double now = store::unix_now();
  std::set<std::string> dead, live;
  for (const auto& item : store_.list_items(run_, "running")) {
    if (is_dead_local_worker(item.worker)) {
      dead.insert(item.worker);
    } else if (item.lease_until >= now) {
      live.insert(item.worker);
    }
  }
  if (live.empty()) {
    const std::size_t reset = store_.reset_unfinished(run_);
    if (reset > 0) log_line(options_, "retrying " + std::to_string(reset) + " unfinished or failed item(s)");
    return;
  }
  for (const auto& worker : dead) store_.release_worker(run_, worker);
}

// Each director backend plans the stories of the groups it directs (directing::plan_run:
// LLM answers come from and go to the store's call cache, director scores to its
// metric values). A story that cannot be planned gets no items now; a rerun tries again.
void Worker::direct_stories() {
  const auto start = Clock::now();
  std::map<std::string, std::set<std::string>> stories_per_director;
  for (const auto& group : plan_.groups) stories_per_director[group.director].insert(group.story);
  for (const auto& [director_name, ids] : stories_per_director) {
    std::vector<datasets::Story> stories;
    for (const auto& story : selected_.stories) {
      if (ids.count(story.id)) stories.push_back(story);
    }
    directing::Options options;
    options.backends = {director_name};
    options.log = options_.log;
    options.no_cache = options_.no_cache;
    const directing::RunDirection direction = directing::plan_run(config_, store_, run_, stories, options);
    for (const auto& story : stories) {
      if (const director::StoryPlan* plan = direction.plan_of(director_name, story.id)) {
        story_plans_[{director_name, story.id}] = *plan;
      }
    }
    for (const auto& error : direction.errors()) direction_errors_.push_back(error);
  }
  times_.add("direct", "", seconds_since(start));
}

void Worker::add_items() {
  std::vector<store::NewItem> items;
  for (auto& group : plan_.groups) {
    const auto found = story_plans_.find({group.director, group.story});
    if (found == story_plans_.end()) continue;  // the director failed: reported, retried on resume
    planning::expand_group(config_, found->second, group);
    for (const auto& item : group.items) {
      items.push_back(store::NewItem{to_store_key(item.key), group.key(), item.cost, item.label});
    }
  }
  const auto start = Clock::now();
  const std::size_t added = store_.add_items(run_, items);
  times_.add("store", "", seconds_since(start));
  const Counts counts = count_items(store_, run_, options_.shard ? &group_keys_ : nullptr);
  outcome_.planned = counts.total();
  outcome_.done_before = counts.done;
  if (added > 0) log_line(options_, "planned " + std::to_string(added) + " new item(s)");
  if (options_.progress != nullptr) {
    progress_ = std::make_unique<Progress>(*options_.progress, options_.progress_terminal,
                                           options_.progress_interval_seconds, counts.total(),
                                           counts.done + counts.failed, counts.failed);
    progress_->set_counts(counts.done + counts.failed, counts.failed);  // shown at once, not after the first item
  }
}

void Worker::refresh_progress(bool force) {
  if (!progress_) return;
  if (!force && seconds_since(last_count_refresh_) < 1.0) return;
  last_count_refresh_ = Clock::now();
  const Counts counts = count_items(store_, run_, options_.shard ? &group_keys_ : nullptr);
  progress_->set_counts(counts.done + counts.failed, counts.failed);
}

void Worker::work() {
  const double heartbeat_interval =
      options_.heartbeat_seconds > 0 ? options_.heartbeat_seconds : options_.lease_seconds / 4.0;
  Heartbeat heartbeat(store_, worker_, options_.lease_seconds, heartbeat_interval);
  store::ClaimOptions claim;
  claim.worker = worker_;
  claim.lease_seconds = options_.lease_seconds;
  if (options_.shard) claim.groups.assign(group_keys_.begin(), group_keys_.end());
  const double poll_seconds = std::clamp(options_.lease_seconds / 8.0, 0.05, 1.0);

  std::size_t processed = 0;
  while (!stop_requested()) {
    if (options_.max_items > 0 && processed >= options_.max_items) break;
    // A SQLite store deleted or replaced under us would swallow every later commit.
    store_.check_still_in_place();
    const std::optional<store::ItemRow> item = claim_next(claim);
    if (!item) {
      if (store_.fail_blocked_scenes(run_) > 0) continue;
      if (count_items(store_, run_, options_.shard ? &group_keys_ : nullptr).open() == 0) break;
      // Other workers hold the rest (or scenes wait for their portraits): wait, and take
      // over whatever a dead worker leaves when its lease runs out.
      if (release_dead_local_workers(store_, run_) > 0) continue;
      refresh_progress(false);
      std::this_thread::sleep_for(std::chrono::duration<double>(poll_seconds));
      continue;
    }
    emit(options_, "claimed");
    heartbeat.begin(item->id);
    process(*item);
    if (heartbeat.end()) log_line(options_, "lost the lease of item " + std::to_string(item->id) + " while running it");
    ++processed;
    if (seconds_since(last_timing_flush_) > 30.0) {
      times_.flush(store_, run_, worker_);
      last_timing_flush_ = Clock::now();
    }
  }
  outcome_.interrupted = stop_requested() || (options_.max_items > 0 && processed >= options_.max_items);
}

systems::System& Worker::system_for(const planning::PlanGroup& group) {
  auto found = systems_.find(group.system);
  if (found != systems_.end()) return *found->second;
  const auto entry = std::find_if(config_.systems.begin(), config_.systems.end(),
                                  [&](const harness::SystemConfig& s) { return s.name == group.system; });
  if (entry == config_.systems.end()) throw core::RunError("system '" + group.system + "' is not in the config");
  systems::ModelSettings model;
  model.profile = config_.model.profile;
  model.weights = config_.model.weights;
  model.threads = config_.model.threads;
  model.sampler = {config_.sampler.steps, config_.sampler.guidance, config_.sampler.width, config_.sampler.height};
  const auto start = Clock::now();
  auto system = make_system_(*entry, model);
  times_.add("load_system", group.system, seconds_since(start));
  return *systems_.emplace(group.system, std::move(system)).first->second;
}

void Worker::process(const store::ItemRow& item) {
  const auto start = Clock::now();
  const planning::ItemKey key = from_store_key(item.key);
  const auto group = groups_by_key_.find(item.group);
  if (group == groups_by_key_.end() || !story_plans_.count({group->second->director, key.story})) {
    store_.fail_item(item.id, "item " + key.to_string() + " is not in this worker's plan (was the config changed?)");
    ++outcome_.failed;
    if (progress_) progress_->item_finished(false);
    return;
  }
  const GroupContext context{group->second, &story_plans_.at({group->second->director, key.story})};
  const std::string subject_name =
      key.kind == planning::ItemKind::kPortrait ? item.label : std::string();

  std::vector<store::ArtifactRecord> artifacts;
  nlohmann::json info = nlohmann::json::object();
  std::string error;
  try {
    systems::System& system = system_for(*context.group);
    const auto drawing = Clock::now();
    systems::SystemOutput output = draw(key, context, system);
    const double draw_seconds = seconds_since(drawing);
    times_.add(planning::kind_name(key.kind), key.system, draw_seconds);
    emit(options_, "generated");
    const auto writing = Clock::now();
    try {
      remove_temporaries(key, subject_name);
      artifacts = write_images(key, subject_name, output);
    } catch (const std::exception& failure) {
      throw OutputError(failure.what());
    }
    const double write_seconds = seconds_since(writing);
    times_.add("write", key.system, write_seconds);
    info = output.info.is_object() ? output.info : nlohmann::json{{"system_info", output.info}};
    info["worker"] = worker_;
    info["timings"] = {{"draw_s", draw_seconds}, {"write_s", write_seconds}};
    info["plan"] = plan_facts(key, *context.story_plan);
  } catch (const core::InputError&) {
    throw;  // a config problem (unknown system, bad params): every item would fail alike
  } catch (const OutputError& failure) {
    // The output folder, not the item, is at fault (disk full, read-only, gone): every
    // item would fail alike. The item goes back to pending for the resume.
    store_.release_worker(run_, worker_);
    throw core::RunError("cannot write the images of " + key.to_string() + ": " + failure.what());
  } catch (const DamagedPortrait& damaged) {
    // Twice redrawn and damaged again: something keeps changing the files; the scene fails.
    if (++portrait_repairs_[damaged.portrait] > 2) {
      error = damaged.what();
    } else {
      repair_portrait(key, damaged);
      return;
    }
  } catch (const std::exception& failure) {
    error = failure.what();
  }

  const auto storing = Clock::now();
  if (!error.empty()) {
    store_.fail_item(item.id, error);
    ++outcome_.failed;
    log_line(options_, "item " + key.to_string() + " failed: " + error);
  } else {
    emit(options_, "before_complete");
    if (store_.complete_item(item.id, info, seconds_since(start), artifacts)) ++outcome_.completed;
    emit(options_, "completed");
  }
  times_.add("store", key.system, seconds_since(storing));
  if (progress_) {
    progress_->item_finished(error.empty());
    refresh_progress(false);
  }
}

// The damaged portrait goes back to pending (its artifact rows dropped) and this scene
// back to pending behind it: claims take the portrait first, the scene once it is done
// again.
void Worker::repair_portrait(const planning::ItemKey& key, const DamagedPortrait& damaged) {
  const bool reset = store_.reset_done_item(damaged.portrait);
  store_.release_worker(run_, worker_);
  log_line(options_, std::string("scene ") + key.to_string() + " waits for its portrait to be redrawn: " +
                         damaged.what() + (reset ? "" : " (already being redrawn)"));
}

systems::SystemOutput Worker::draw(const planning::ItemKey& key, const GroupContext& context,
                                   systems::System& system) {
  if (key.kind == planning::ItemKind::kPortrait) {
    systems::PortraitRequest request;
    request.plan = context.story_plan;
    request.subject = key.index;
    request.seed = key.seed;
    return system.portrait(request);
  }
  systems::SceneRequest request;
  request.plan = context.story_plan;
  request.scene = key.index;
  request.seed = key.seed;
  if (system.uses_portraits()) {
    const auto loading = Clock::now();
    request.portraits = load_portraits(key, context);
    times_.add("load_portraits", key.system, seconds_since(loading));
  }
  return system.scene(request);
}

// The portraits a scene needs, read back from their recorded files (hash-checked): a
// scene never uses an image that differs from what the store says its portrait is.
std::vector<systems::Portrait> Worker::load_portraits(const planning::ItemKey& scene, const GroupContext& context) {
  const auto& scenes = context.story_plan->scenes;
  if (scene.index < 0 || static_cast<std::size_t>(scene.index) >= scenes.size()) {
    throw core::RunError("scene " + std::to_string(scene.index) + " is not in the director's plan of " + scene.story);
  }
  std::vector<systems::Portrait> portraits;
  for (const int subject : scenes[static_cast<std::size_t>(scene.index)].subjects) {
    const planning::ItemKey key{scene.system, scene.story, planning::ItemKind::kPortrait, subject, scene.seed};
    const auto row = store_.find_item(run_, to_store_key(key));
    if (!row || row->status != "done") {
      throw core::RunError("portrait " + key.to_string() + " is not done (" + (row ? row->status : "missing") + ")");
    }
    systems::Portrait portrait;
    portrait.subject = subject;
    for (const auto& artifact : store_.artifacts_of_item(row->id)) {
      const auto path = std::filesystem::path(config_.output_dir) / artifact.path;
      std::string bytes;
      try {
        bytes = core::read_file(path);
      } catch (const core::InputError& error) {
        // A file of the run, not user input: the portrait is redrawn.
        throw DamagedPortrait(row->id, "cannot read portrait " + key.to_string() + ": " + error.what());
      }
      if (core::sha256_hex(bytes) != artifact.sha256) {
        throw DamagedPortrait(row->id, path.string() +
                                           " does not match its recorded sha256 (the file changed after portrait " +
                                           key.to_string() + " was recorded)");
      }
      core::Image image = core::decode_image(bytes, path.string());  // hash-checked: decodes as it did
      if (artifact.name == "image") {
        portrait.image = std::move(image);
      } else {
        portrait.side_images.push_back({artifact.kind, artifact.name, std::move(image)});
      }
    }
    if (portrait.image.empty()) throw core::RunError("portrait " + key.to_string() + " has no recorded image");
    portraits.push_back(std::move(portrait));
  }
  return portraits;
}

std::vector<store::ArtifactRecord> Worker::write_images(const planning::ItemKey& key, const std::string& subject_name,
                                                        const systems::SystemOutput& output) {
  if (output.image.empty()) throw core::RunError("the system returned no image for " + key.to_string());
  std::vector<store::ArtifactRecord> artifacts;
  std::set<std::string> names{"image"};
  const auto write = [&](const std::string& kind, const std::string& name, const std::filesystem::path& relative,
                         const core::Image& image) {
    const std::string bytes = core::encode_png(image);
    const std::filesystem::path path = std::filesystem::path(run_prefix_) / relative;
    core::write_file_atomic(std::filesystem::path(config_.output_dir) / path, bytes);
    emit(options_, "file_written");
    artifacts.push_back({kind, name, path.generic_string(), core::sha256_hex(bytes), static_cast<std::int64_t>(bytes.size())});
  };
  write(planning::kind_name(key.kind), "image", item_image_path(key, subject_name), output.image);
  for (const auto& side : output.side_images) {
    if (!names.insert(side.name).second) {
      throw core::RunError("the system returned two side images named '" + side.name + "' for " + key.to_string());
    }
    write(side.kind, side.name, side_image_path(key, subject_name, side.name), side.image);
  }
  return artifacts;
}

bool is_temporary_name(const std::string& name) { return name.find(".tmp-") != std::string::npos; }

// Temporaries of an earlier, killed attempt at this item (this worker holds its claim, so
// nobody else is writing them).
void Worker::remove_temporaries(const planning::ItemKey& key, const std::string& subject_name) {
  const auto image = std::filesystem::path(config_.output_dir) / run_prefix_ / item_image_path(key, subject_name);
  const std::string stem = image.stem().string();
  std::error_code ignored;
  if (!std::filesystem::is_directory(image.parent_path(), ignored)) return;
  for (const auto& entry : std::filesystem::directory_iterator(image.parent_path(), ignored)) {
    const std::string name = entry.path().filename().string();
    if (is_temporary_name(name) && name.starts_with(stem + ".")) std::filesystem::remove(entry.path(), ignored);
  }
}

// Once no item is open nobody writes under the run folder: every temporary is debris.
void Worker::sweep_temporaries() {
  std::error_code ignored;
  const auto root = outcome_.run_dir;
  if (!std::filesystem::is_directory(root, ignored)) return;
  std::size_t removed = 0;
  for (auto it = std::filesystem::recursive_directory_iterator(root, ignored);
       it != std::filesystem::recursive_directory_iterator(); it.increment(ignored)) {
    if (it->is_regular_file(ignored) && is_temporary_name(it->path().filename().string())) {
      removed += std::filesystem::remove(it->path(), ignored) ? 1 : 0;
    }
  }
  if (removed > 0) log_line(options_, "removed " + std::to_string(removed) + " temporary file(s) of killed attempts");
}

void Worker::finish_run() {
  times_.flush(store_, run_, worker_);
  outcome_.stage_seconds = times_.totals();
  const Counts counts = count_items(store_, run_, options_.shard ? &group_keys_ : nullptr);
  outcome_.planned = counts.total();
  outcome_.failed_total = counts.failed;
  outcome_.remaining = counts.open();
  std::string message;
  if (!direction_errors_.empty()) {
    message = std::to_string(direction_errors_.size()) + " stor" + (direction_errors_.size() == 1 ? "y" : "ies") +
              " could not be planned; first: " + direction_errors_.front();
  }
  if (counts.open() == 0) {
    // Nothing is left (a stop that came after the last item, or other workers finished
    // the rest): the run is over whatever stopped this worker.
    outcome_.interrupted = false;
    sweep_temporaries();
    outcome_.status = counts.failed > 0 || !direction_errors_.empty() ? "failed" : "finished";
    if (message.empty() && counts.failed > 0) message = std::to_string(counts.failed) + " item(s) failed";
  } else {
    outcome_.status = "interrupted";
    outcome_.interrupted = true;
  }
  store_.set_run_status(run_, outcome_.status, message);
  if (progress_) {
    progress_->set_counts(counts.done + counts.failed, counts.failed);
    progress_->finish();
  }
}

}  // namespace

harness::RunConfig config_of_run(const std::filesystem::path& store_path, const std::string& run_id) {
  if (!is_database_url(store_path.string()) && !std::filesystem::exists(store_path)) {
    throw core::InputError(core::Location{store_path.string(), 0, "--store"}, "an existing run store");
  }
  const store::Store store = store::Store::open(store_path);
  const store::RunInfo info = store.get_run(parse_run_id(run_id));
  nlohmann::json resolved;
  try {
    resolved = nlohmann::json::parse(info.config_json);
  } catch (const nlohmann::json::exception& error) {
    throw core::RunError(store_path.string() + ": run " + run_id + " has an unreadable config: " + error.what());
  }
  harness::RunConfig config = harness::config_from_resolved(resolved);
  if (config.hash != info.config_hash) {
    throw core::RunError(store_path.string() + ": run " + run_id + " config hash " + info.config_hash +
                         " does not match its stored config (" + config.hash + ")");
  }
  return config;
}

core::ExitCode Outcome::exit_code() const {
  return status == "finished" && failed_total == 0 && !interrupted ? core::ExitCode::kOk : core::ExitCode::kRunFailure;
}

Outcome execute(const harness::RunConfig& config, const Options& options, const SystemFactory& make_system) {
  const std::filesystem::path store_path = resolve_store_path(config, options);
  Worker worker(config, options, make_system, store_path);
  return worker.run();
}

}  // namespace dsbench::executor
