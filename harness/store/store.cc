#include "harness/store/store.h"

#include <sys/stat.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <ctime>
#include <limits>
#include <mutex>
#include <set>

#include "core/errors.h"
#include "core/hashing.h"
#include "harness/store/schema.h"
#include "harness/store/sqlite.h"

namespace dsbench::store {

using nlohmann::json;

std::string utc_now_iso() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm parts{};
  gmtime_r(&now, &parts);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &parts);
  return text;
}

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

int current_schema_version() { return static_cast<int>(schema::migrations().size()); }

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// SQLite stores NaN as NULL; metrics use NaN for "not defined" (e.g. a subject never
// detected), so NULL reads back as NaN.
void bind_real(sql::Statement& statement, int index, double value) {
  if (std::isnan(value)) {
    statement.bind_null(index);
  } else {
    statement.bind(index, value);
  }
}
double read_real(const sql::Statement& statement, int column) {
  return statement.is_null(column) ? kNaN : statement.real(column);
}

json parse_json_column(const std::string& text) {
  if (text.empty()) return json::object();
  return json::parse(text, nullptr, /*allow_exceptions=*/false);
}

void migrate(sql::Database& database) {
  const auto& steps = schema::migrations();
  const auto known = static_cast<int>(steps.size());
  auto too_new = [&](int version) {
    return core::InputError(core::Location{database.name(), 0, ""},
                            "run store schema version " + std::to_string(version) +
                                " is newer than this dsbench understands (" + std::to_string(known) +
                                "); use a newer dsbench");
  };
  // The first read of a file that is not a database fails here, with a clear message.
  int version = database.schema_version();
  if (version > known) throw too_new(version);
  while (version < known) {
    sql::Transaction transaction(database);
    database.lock_for_migration();
    // Re-read under the lock: another process may have migrated meanwhile.
    version = database.schema_version();
    if (version > known) throw too_new(version);
    if (version == known) break;
    database.apply_migration(steps[static_cast<std::size_t>(version)], version + 1);
    transaction.commit();
    ++version;
  }
}

const char* kItemColumns =
    "id, run, system, story, kind, idx, seed, group_key, label, cost, status, worker, lease_until, attempts, "
    "seconds, error, info";

ItemRow read_item(const sql::Statement& row) {
  ItemRow item;
  item.id = row.int64(0);
  item.run = row.int64(1);
  item.key.system = row.text(2);
  item.key.story = row.text(3);
  item.key.kind = row.text(4);
  item.key.index = static_cast<int>(row.int64(5));
  item.key.seed = row.uint64(6);
  item.group = row.text(7);
  item.label = row.text(8);
  item.cost = row.real(9);
  item.status = row.text(10);
  item.worker = row.text(11);
  item.lease_until = row.real(12);
  item.attempts = static_cast<int>(row.int64(13));
  item.seconds = row.real(14);
  item.error = row.text(15);
  item.info = parse_json_column(row.text(16));
  return item;
}

const char* kRunColumns =
    "id, name, config_json, config_hash, project_version, host, output_dir, status, message, created_at, "
    "started_at, finished_at";

RunInfo read_run(const sql::Statement& row) {
  RunInfo run;
  run.id = row.int64(0);
  run.name = row.text(1);
  run.config_json = row.text(2);
  run.config_hash = row.text(3);
  run.project_version = row.text(4);
  run.host = row.text(5);
  run.output_dir = row.text(6);
  run.status = row.text(7);
  run.message = row.text(8);
  run.created_at = row.text(9);
  run.started_at = row.text(10);
  run.finished_at = row.text(11);
  return run;
}

const char* kArtifactColumns =
    "a.id, a.item, a.kind, a.name, a.path, a.sha256, a.bytes, w.system, w.story, w.kind, w.idx, w.seed";

ArtifactRow read_artifact(const sql::Statement& row) {
  ArtifactRow artifact;
  artifact.id = row.int64(0);
  artifact.item = row.int64(1);
  artifact.kind = row.text(2);
  artifact.name = row.text(3);
  artifact.path = row.text(4);
  artifact.sha256 = row.text(5);
  artifact.bytes = row.int64(6);
  artifact.key.system = row.text(7);
  artifact.key.story = row.text(8);
  artifact.key.kind = row.text(9);
  artifact.key.index = static_cast<int>(row.int64(10));
  artifact.key.seed = row.uint64(11);
  return artifact;
}

director::RecordedCall read_call(const sql::Statement& row) {
  director::RecordedCall call;
  call.backend = row.text(0);
  call.model = row.text(1);
  call.request_hash = row.text(2);
  call.template_hash = row.text(3);
  call.request = parse_json_column(row.text(4));
  call.response = row.text(5);
  call.tokens_in = row.int64(6);
  call.tokens_out = row.int64(7);
  call.latency_ms = row.real(8);
  call.status = row.text(9);
  return call;
}

const char* kCallColumns =
    "backend, model, request_hash, template_hash, request, response, tokens_in, tokens_out, latency_ms, status";

std::optional<director::RecordedCall> find_call(sql::Database& connection, const std::string& request_hash) {
  sql::Statement statement(connection,
                           std::string("SELECT ") + kCallColumns + " FROM director_calls WHERE request_hash = ?1");
  statement.bind(1, request_hash);
  if (!statement.step()) return std::nullopt;
  return read_call(statement);
}

void insert_call(sql::Database& connection, const director::RecordedCall& call, std::optional<RunId> run) {
  sql::Statement statement(connection,
                           "INSERT INTO director_calls (run, backend, model, request_hash, template_hash, request, "
                           "response, tokens_in, tokens_out, latency_ms, status, created_at) "
                           "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) "
                           "ON CONFLICT (request_hash) DO UPDATE SET run = excluded.run, backend = excluded.backend, "
                           "model = excluded.model, template_hash = excluded.template_hash, request = excluded.request, "
                           "response = excluded.response, tokens_in = excluded.tokens_in, tokens_out = "
                           "excluded.tokens_out, latency_ms = excluded.latency_ms, status = excluded.status");
  statement.bind(1, run)
      .bind(2, call.backend)
      .bind(3, call.model)
      .bind(4, call.request_hash)
      .bind(5, call.template_hash)
      .bind(6, call.request.dump())
      .bind(7, call.response)
      .bind(8, call.tokens_in)
      .bind(9, call.tokens_out)
      .bind(10, call.latency_ms)
      .bind(11, call.status)
      .bind(12, utc_now_iso());
  statement.run();
}

// An item's artifact rows, replacing rows of the same name (a redrawn item).
void write_artifacts(sql::Database& db, ItemId item, const std::vector<ArtifactRecord>& artifacts) {
  sql::Statement insert(db,
                        "INSERT INTO artifacts (item, kind, name, path, sha256, bytes) VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
                        "ON CONFLICT (item, name) DO UPDATE SET kind = excluded.kind, path = excluded.path, "
                        "sha256 = excluded.sha256, bytes = excluded.bytes");
  for (const auto& artifact : artifacts) {
    insert.reset();
    insert.bind(1, item)
        .bind(2, artifact.kind)
        .bind(3, artifact.name)
        .bind(4, artifact.path)
        .bind(5, artifact.sha256)
        .bind(6, artifact.bytes);
    insert.run();
  }
}

bool is_postgres_url(const std::string& location) {
  return location.rfind("postgresql://", 0) == 0 || location.rfind("postgres://", 0) == 0;
}

std::unique_ptr<sql::Database> open_database(const std::string& location) {
  if (is_postgres_url(location)) {
    auto database = sql::open_postgres(location);
    migrate(*database);
    return database;
  }
  if (location.find("://") != std::string::npos) {
    throw core::InputError(core::Location{sql::redact_url(location), 0, "store.url"},
                           "unknown store URL scheme; expected a SQLite file path or postgresql://...");
  }
  const std::filesystem::path path(location);
  std::error_code error;
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), error);
  if (std::filesystem::is_directory(path)) {
    throw core::InputError(core::Location{path.string(), 0, ""}, "expected a run store file, found a folder");
  }
  auto database = sql::open_sqlite(path);
  migrate(*database);
  database->exec("PRAGMA journal_mode = WAL");
  // WAL with NORMAL sync keeps every committed transaction across a process kill (only a
  // power cut may lose the last ones), at a fraction of FULL's fsyncs.
  database->exec("PRAGMA synchronous = NORMAL");
  return database;
}

// PostgreSQL runs at READ COMMITTED: rows a transaction decides on must be locked.
std::string row_lock(const sql::Database& database, const std::string& what = "") {
  if (database.dialect() != sql::Dialect::kPostgres) return "";
  return what.empty() ? " FOR UPDATE" : " FOR UPDATE OF " + what + " SKIP LOCKED";
}

}  // namespace

struct Store::Impl {
  std::filesystem::path path;  // for messages: a PostgreSQL URL without its password
  std::string location;        // as opened (may hold credentials; never printed)
  std::unique_ptr<sql::Database> connection;
  bool postgres = false;
  std::uintmax_t device = 0;  // identity of the SQLite file when opened
  std::uintmax_t inode = 0;
  // A Store may be shared by the executor's heartbeat thread: one statement at a time.
  mutable std::recursive_mutex mutex;
  std::vector<std::string> claim_groups;  // what the temp claim_groups table holds
  bool claim_groups_loaded = false;

  sql::Database& db() const { return *connection; }

  // One UPDATE (`values` bound to ?1, ?2, ...) in its own transaction; returns
  // how many rows it changed.
  template <typename... Values>
  std::size_t update(std::string_view query, const Values&... values) {
    std::lock_guard lock(mutex);
    sql::Transaction transaction(db());
    sql::Statement statement(db(), query);
    int index = 0;
    (statement.bind(++index, values), ...);
    statement.run();
    const auto changed = static_cast<std::size_t>(db().changes());
    transaction.commit();
    return changed;
  }
};

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::~Store() = default;
Store::Store(Store&&) noexcept = default;
Store& Store::operator=(Store&&) noexcept = default;

Store Store::open(const std::filesystem::path& path) {
  auto impl = std::make_unique<Impl>();
  impl->path = is_postgres_url(path.string()) ? std::filesystem::path(sql::redact_url(path.string())) : path;
  impl->location = path.string();
  impl->connection = open_database(path.string());
  impl->postgres = impl->connection->dialect() == sql::Dialect::kPostgres;
  if (!impl->postgres) {
    struct stat info {};
    if (::stat(path.c_str(), &info) == 0) {
      impl->device = info.st_dev;
      impl->inode = info.st_ino;
    }
  }
  return Store(std::move(impl));
}

const std::filesystem::path& Store::path() const { return impl_->path; }

void Store::check_still_in_place() const {
  if (impl_->postgres) return;
  struct stat info {};
  if (::stat(impl_->path.c_str(), &info) != 0) {
    throw core::RunError(impl_->path.string() +
                         ": the run store was deleted during the run; work after this point would be lost. "
                         "Restore the file (or start a new store) and run again");
  }
  if (info.st_dev != impl_->device || info.st_ino != impl_->inode) {
    throw core::RunError(impl_->path.string() + ": the run store was replaced by another file during the run");
  }
}

void Store::with_run_lock(const std::function<void()>& fn) {
  if (!impl_->postgres) {
    fn();
    return;
  }
  constexpr const char* kRunLockKey = "7243902";  // migrations use 7243901
  struct Unlock {
    Impl& impl;
    ~Unlock() {
      try {
        std::lock_guard lock(impl.mutex);
        impl.db().exec(std::string("SELECT pg_advisory_unlock(") + kRunLockKey + ")");
      } catch (...) {
        // The connection is gone: so is its session lock.
      }
    }
  };
  {
    std::lock_guard lock(impl_->mutex);
    impl_->db().exec(std::string("SELECT pg_advisory_lock(") + kRunLockKey + ")");
  }
  const Unlock unlock{*impl_};
  fn();
}

int Store::schema_version() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->db().schema_version();
}

// ---- runs ----

RunId Store::create_run(const NewRun& run) {
  std::lock_guard lock(impl_->mutex);
  sql::Transaction transaction(impl_->db());
  sql::Statement statement(impl_->db(),
                           "INSERT INTO runs (name, config_json, config_hash, project_version, host, output_dir, "
                           "created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id");
  statement.bind(1, run.name)
      .bind(2, run.config_json)
      .bind(3, run.config_hash)
      .bind(4, run.project_version)
      .bind(5, run.host)
      .bind(6, run.output_dir)
      .bind(7, utc_now_iso());
  statement.step();
  const RunId id = statement.int64(0);
  statement.run();
  transaction.commit();
  return id;
}

std::optional<RunInfo> Store::find_run(RunId id) const {
  std::lock_guard lock(impl_->mutex);
  sql::Statement statement(impl_->db(), std::string("SELECT ") + kRunColumns + " FROM runs WHERE id = ?1");
  statement.bind(1, id);
  if (!statement.step()) return std::nullopt;
  return read_run(statement);
}

RunInfo Store::get_run(RunId id) const {
  auto run = find_run(id);
  if (!run) {
    throw core::InputError(core::Location{impl_->path.string(), 0, ""},
                           "no run " + std::to_string(id) + " in this store (dsbench runs lists them)");
  }
  return *run;
}

std::vector<RunInfo> Store::runs_with_config_hash(const std::string& config_hash) const {
  std::lock_guard lock(impl_->mutex);
  sql::Statement statement(impl_->db(), std::string("SELECT ") + kRunColumns +
                                            " FROM runs WHERE config_hash = ?1 ORDER BY id DESC");
  statement.bind(1, config_hash);
  std::vector<RunInfo> runs;
  while (statement.step()) runs.push_back(read_run(statement));
  return runs;
}

std::vector<RunInfo> Store::list_runs() const {
  std::lock_guard lock(impl_->mutex);
  sql::Statement statement(impl_->db(), std::string("SELECT ") + kRunColumns + " FROM runs ORDER BY id DESC");
  std::vector<RunInfo> runs;
  while (statement.step()) runs.push_back(read_run(statement));
  return runs;
}

void Store::set_run_status(RunId id, const std::string& status, const std::string& message) {
  const bool starting = status == "running";
  const bool ending = status == "finished" || status == "failed" || status == "interrupted" || status == "imported";
  const std::size_t changed = impl_->update(
      "UPDATE runs SET status = ?2, message = ?3, "
      "started_at = CASE WHEN ?4 = 1 AND started_at = '' THEN ?6 ELSE started_at END, "
      "finished_at = CASE WHEN ?5 = 1 THEN ?6 WHEN ?4 = 1 THEN '' ELSE finished_at END WHERE id = ?1",
      id, status, message, starting ? 1 : 0, ending ? 1 : 0, utc_now_iso());
  if (changed == 0) {
    throw core::InputError(core::Location{impl_->path.string(), 0, ""}, "no run " + std::to_string(id));
  }
}

// ---- work items ----

std::size_t Store::add_items(RunId run, const std::vector<NewItem>& items) {
  std::lock_guard lock(impl_->mutex);
  sql::Transaction transaction(impl_->db());
  sql::Statement statement(impl_->db(),
                           "INSERT INTO work_items (run, system, story, kind, idx, seed, group_key, label, cost) "
                           "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT DO NOTHING");
  std::size_t added = 0;
  for (const auto& item : items) {
    if (item.key.kind != "portrait" && item.key.kind != "scene") {
      throw core::RunError("work item kind must be portrait or scene, got '" + item.key.kind + "'");
    }
    statement.reset();
    statement.bind(1, run)
        .bind(2, item.key.system)
        .bind(3, item.key.story)
        .bind(4, item.key.kind)
        .bind(5, item.key.index)
        .bind(6, item.key.seed)
        .bind(7, item.group)
        .bind(8, item.label)
        .bind(9, item.cost);
    statement.run();
    added += static_cast<std::size_t>(impl_->db().changes());
  }
  transaction.commit();
  return added;
}

std::optional<ItemRow> Store::claim_next_item(RunId run, const ClaimOptions& options) {
  std::lock_guard lock(impl_->mutex);
  auto& db = impl_->db();
  const bool filtered = !options.groups.empty();
  if (filtered && (!impl_->claim_groups_loaded || impl_->claim_groups != options.groups)) {
    db.exec("CREATE TEMP TABLE IF NOT EXISTS claim_groups (group_key TEXT PRIMARY KEY)");
    sql::Transaction transaction(db);
    db.exec("DELETE FROM claim_groups");
    sql::Statement insert(db, "INSERT INTO claim_groups (group_key) VALUES (?1) ON CONFLICT DO NOTHING");
    for (const auto& group : options.groups) {
      insert.reset();
      insert.bind(1, group);
      insert.run();
    }
    transaction.commit();
    impl_->claim_groups = options.groups;
    impl_->claim_groups_loaded = true;
  }
  const double now = unix_now();
  sql::Transaction transaction(db);
  // A scene is claimable only once every portrait of its group is done: its inputs.
  std::string query =
      "SELECT w.id FROM work_items w WHERE w.run = ?1 AND "
      "(w.status = 'pending' OR (w.status = 'running' AND w.lease_until < ?2)) AND "
      "(w.kind = 'portrait' OR NOT EXISTS (SELECT 1 FROM work_items p WHERE p.run = w.run AND "
      "p.group_key = w.group_key AND p.kind = 'portrait' AND p.status != 'done'))";
  if (filtered) query += " AND w.group_key IN (SELECT group_key FROM claim_groups)";
  query += " ORDER BY w.id LIMIT 1" + row_lock(db, "w");
  sql::Statement select(db, query);
  select.bind(1, run).bind(2, now);
  if (!select.step()) return std::nullopt;
  const ItemId id = select.int64(0);
  sql::Statement update(db,
                        "UPDATE work_items SET status = 'running', worker = ?2, lease_until = ?3, "
                        "attempts = attempts + 1, error = '' WHERE id = ?1");
  update.bind(1, id).bind(2, options.worker).bind(3, now + options.lease_seconds);
  update.run();
  sql::Statement read(db, std::string("SELECT ") + kItemColumns + " FROM work_items WHERE id = ?1");
  read.bind(1, id);
  read.step();
  ItemRow item = read_item(read);
  transaction.commit();
  return item;
}

bool Store::heartbeat(ItemId item, const std::string& worker, double lease_seconds) {
  return impl_->update("UPDATE work_items SET lease_until = ?3 WHERE id = ?1 AND worker = ?2 AND status = 'running'",
                       item, worker, unix_now() + lease_seconds) == 1;
}

bool Store::complete_item(ItemId item, const json& info, double seconds, const std::vector<ArtifactRecord>& artifacts) {
  std::lock_guard lock(impl_->mutex);
  auto& db = impl_->db();
  sql::Transaction transaction(db);
  sql::Statement status(db, "SELECT status FROM work_items WHERE id = ?1" + row_lock(db));
  status.bind(1, item);
  if (!status.step()) throw core::RunError(impl_->path.string() + ": no work item " + std::to_string(item));
  if (status.text(0) == "done") return false;  // a worker whose lease expired finished it first
  write_artifacts(db, item, artifacts);
  sql::Statement update(db,
                        "UPDATE work_items SET status = 'done', info = ?2, seconds = ?3, error = '', lease_until = 0, "
                        "finished_at = ?4 WHERE id = ?1");
  update.bind(1, item).bind(2, info.dump()).bind(3, seconds).bind(4, utc_now_iso());
  update.run();
  transaction.commit();
  return true;
}

void Store::fail_item(ItemId item, const std::string& error) {
  impl_->update("UPDATE work_items SET status = 'failed', error = ?2, lease_until = 0, finished_at = ?3 "
                "WHERE id = ?1 AND status != 'done'",
                item, error, utc_now_iso());
}

std::size_t Store::reset_unfinished(RunId run) {
  return impl_->update("UPDATE work_items SET status = 'pending', worker = '', lease_until = 0 "
                       "WHERE run = ?1 AND status IN ('running', 'failed')",
                       run);
}

bool Store::reset_done_item(ItemId item) {
  std::lock_guard lock(impl_->mutex);
  sql::Transaction transaction(impl_->db());
  sql::Statement reset(impl_->db(),
                       "UPDATE work_items SET status = 'pending', worker = '', lease_until = 0 "
                       "WHERE id = ?1 AND status = 'done'");
  reset.bind(1, item);
  reset.run();
  if (impl_->db().changes() == 0) return false;
  sql::Statement drop(impl_->db(), "DELETE FROM artifacts WHERE item = ?1");
  drop.bind(1, item);
  drop.run();
  transaction.commit();
  return true;
}

std::size_t Store::release_worker(RunId run, const std::string& worker) {
  return impl_->update("UPDATE work_items SET status = 'pending', worker = '', lease_until = 0 "
                       "WHERE run = ?1 AND worker = ?2 AND status = 'running'",
                       run, worker);
}

std::size_t Store::fail_blocked_scenes(RunId run) {
  return impl_->update(
      "UPDATE work_items SET status = 'failed', finished_at = ?2, error = 'a portrait of this story failed: ' || "
      "(SELECT p.label || ' (' || p.error || ')' FROM work_items p WHERE p.run = work_items.run AND "
      "p.group_key = work_items.group_key AND p.kind = 'portrait' AND p.status = 'failed' ORDER BY p.id LIMIT 1) "
      "WHERE run = ?1 AND kind = 'scene' AND status = 'pending' AND EXISTS (SELECT 1 FROM work_items p WHERE "
      "p.run = work_items.run AND p.group_key = work_items.group_key AND p.kind = 'portrait' AND p.status = 'failed')",
      run, utc_now_iso());
}

std::optional<ItemRow> Store::find_item(RunId run, const ItemKey& key) const {
  std::lock_guard lock(impl_->mutex);
  sql::Statement statement(impl_->db(), std::string("SELECT ") + kItemColumns +
                                            " FROM work_items WHERE run = ?1 AND system = ?2 AND story = ?3 AND "
                                            "kind = ?4 AND idx = ?5 AND seed = ?6");
  statement.bind(1, run).bind(2, key.system).bind(3, key.story).bind(4, key.kind).bind(5, key.index).bind(6, key.seed);
  if (!statement.step()) return std::nullopt;
  return read_item(statement);
}

ItemRow Store::get_item(ItemId id) const {
  std::lock_guard lock(impl_->mutex);
  sql::Statement statement(impl_->db(), std::string("SELECT ") + kItemColumns + " FROM work_items WHERE id = ?1");
  statement.bind(1, id);
  if (!statement.step()) throw core::RunError(impl_->path.string() + ": no work item " + std::to_string(id));
  return read_item(statement);
}

std::vector<ItemRow> Store::list_items(RunId run, const std::string& status) const {
  std::lock_guard lock(impl_->mutex);
  sql::Statement statement(impl_->db(), std::string("SELECT ") + kItemColumns +
                                            " FROM work_items WHERE run = ?1 AND (?2 = '' OR status = ?2) ORDER BY id");
  statement.bind(1, run).bind(2, status);
  std::vector<ItemRow> items;
  while (statement.step()) items.push_back(read_item(statement));
  return items;
}

std::vector<StatusCount> Store::status_counts(RunId run) const {
  std::lock_guard lock(impl_->mutex);
  sql::Statement statement(impl_->db(),
                           "SELECT system, kind, status, COUNT(*) FROM work_items WHERE run = ?1 "
                           "GROUP BY system, kind, status ORDER BY MIN(id), kind DESC, status");
  statement.bind(1, run);
  std::vector<StatusCount> counts;
  while (statement.step()) {
    counts.push_back({statement.text(0), statement.text(1), statement.text(2), statement.int64(3)});
  }
  return counts;
}

StatusTotals Store::totals(RunId run) const {
  StatusTotals totals;
  for (const auto& count : status_counts(run)) {
    totals.total += count.count;
    if (count.status == "pending") totals.pending += count.count;
    if (count.status == "running") totals.running += count.count;
    if (count.status == "done") totals.done += count.count;
    if (count.status == "failed") totals.failed += count.count;
  }
  return totals;
}

// ---- artifacts ----

std::vector<ArtifactRow> Store::artifacts_of_item(ItemId item) const {
  std::lock_guard lock(impl_->mutex);
  sql::Statement statement(impl_->db(), std::string("SELECT ") + kArtifactColumns +
                                            " FROM artifacts a JOIN work_items w ON w.id = a.item WHERE a.item = ?1 "
                                            "ORDER BY a.id");
  statement.bind(1, item);
  std::vector<ArtifactRow> rows;
  while (statement.step()) rows.push_back(read_artifact(statement));
  return rows;
}

std::vector<ArtifactRow> Store::artifacts_of_run(RunId run) const {
  std::lock_guard lock(impl_->mutex);
  sql::Statement statement(impl_->db(), std::string("SELECT ") + kArtifactColumns +
                                            " FROM artifacts a JOIN work_items w ON w.id = a.item WHERE w.run = ?1 "
                                            "ORDER BY w.id, a.id");
  statement.bind(1, run);
  std::vector<ArtifactRow> rows;
  while (statement.step()) rows.push_back(read_artifact(statement));
  return rows;
}

// ---- metrics ----

void Store::put_metric_values(RunId run, const std::vector<MetricValue>& values) {
  std::lock_guard lock(impl_->mutex);
  sql::Transaction transaction(impl_->db());
  sql::Statement statement(impl_->db(),
                           "INSERT INTO metric_values (run, system, story, scene, seed, metric, value, extra) "
                           "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (run, system, story, scene, seed, "
                           "metric) DO UPDATE SET value = excluded.value, extra = excluded.extra");
  for (const auto& value : values) {
    statement.reset();
    statement.bind(1, run).bind(2, value.system).bind(3, value.story).bind(4, value.scene).bind(5, value.seed).bind(
        6, value.metric);
    bind_real(statement, 7, value.value);
    statement.bind(8, value.extra.dump());
    statement.run();
  }
  transaction.commit();
}

std::vector<MetricValue> Store::metric_values(RunId run, const std::string& metric) const {
  std::lock_guard lock(impl_->mutex);
  sql::Statement statement(impl_->db(),
                           "SELECT system, story, scene, seed, metric, value, extra FROM metric_values "
                           "WHERE run = ?1 AND (?2 = '' OR metric = ?2) ORDER BY id");
  statement.bind(1, run).bind(2, metric);
  std::vector<MetricValue> values;
  while (statement.step()) {
    MetricValue value;
    value.system = statement.text(0);
    value.story = statement.text(1);
    value.scene = static_cast<int>(statement.int64(2));
    value.seed = statement.uint64(3);
    value.metric = statement.text(4);
    value.value = read_real(statement, 5);
    value.extra = parse_json_column(statement.text(6));
    values.push_back(std::move(value));
  }
  return values;
}

void Store::replace_metric_summaries(RunId run, const std::vector<MetricSummary>& summaries) {
  std::lock_guard lock(impl_->mutex);
  sql::Transaction transaction(impl_->db());
  // Replace, not merge: a group an earlier evaluation produced and this one does not
  // must not linger. Systems absent from `summaries` keep their rows (merging shards).
  std::set<std::string> systems;
  for (const auto& summary : summaries) systems.insert(summary.system);
  sql::Statement clear(impl_->db(), "DELETE FROM metric_summaries WHERE run = ?1 AND system = ?2");
  for (const auto& system : systems) {
    clear.reset();
    clear.bind(1, run).bind(2, system);
    clear.run();
  }
  sql::Statement statement(impl_->db(),
                           "INSERT INTO metric_summaries (run, system, metric, group_kind, group_value, n, mean, std, "
                           "ci_low, ci_high) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT (run, "
                           "system, metric, group_kind, group_value) DO UPDATE SET n = excluded.n, mean = "
                           "excluded.mean, std = excluded.std, ci_low = excluded.ci_low, ci_high = excluded.ci_high");
  for (const auto& summary : summaries) {
    statement.reset();
    statement.bind(1, run).bind(2, summary.system).bind(3, summary.metric).bind(4, summary.group_kind).bind(
        5, summary.group_value);
    statement.bind(6, summary.n);
    bind_real(statement, 7, summary.mean);
    bind_real(statement, 8, summary.std);
    bind_real(statement, 9, summary.ci_low);
    bind_real(statement, 10, summary.ci_high);
    statement.run();
  }
  transaction.commit();
}

std::vector<MetricSummary> Store::metric_summaries(RunId run) const {
  std::lock_guard lock(impl_->mutex);
  sql::Statement statement(impl_->db(),
                           "SELECT system, metric, group_kind, group_value, n, mean, std, ci_low, ci_high FROM "
                           "metric_summaries WHERE run = ?1 ORDER BY id");
  statement.bind(1, run);
  std::vector<MetricSummary> summaries;
  while (statement.step()) {
    MetricSummary summary;
    summary.system = statement.text(0);
    summary.metric = statement.text(1);
    summary.group_kind = statement.text(2);
    summary.group_value = statement.text(3);
    summary.n = statement.int64(4);
    summary.mean = read_real(statement, 5);
    summary.std = read_real(statement, 6);
    summary.ci_low = read_real(statement, 7);
    summary.ci_high = read_real(statement, 8);
    summaries.push_back(std::move(summary));
  }
  return summaries;
}

// ---- benchmarks and timings ----

void Store::add_benchmark_results(const std::vector<BenchmarkResult>& results) {
  std::lock_guard lock(impl_->mutex);
  sql::Transaction transaction(impl_->db());
  sql::Statement statement(impl_->db(),
                           "INSERT INTO benchmark_results (run, suite, name, params, real_time, cpu_time, "
                           "time_unit, iterations, counters, host, created_at) "
                           "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) ON CONFLICT DO NOTHING");
  const std::string now = utc_now_iso();
  for (const auto& result : results) {
    statement.reset();
    statement.bind(1, result.run).bind(2, result.suite).bind(3, result.name).bind(4, result.params.dump());
    bind_real(statement, 5, result.real_time);
    bind_real(statement, 6, result.cpu_time);
    statement.bind(7, result.time_unit).bind(8, result.iterations).bind(9, result.counters.dump()).bind(
        10, result.host);
    statement.bind(11, result.created_at.empty() ? now : result.created_at);
    statement.run();
  }
  transaction.commit();
}

std::vector<BenchmarkResult> Store::benchmark_results(std::optional<RunId> run, const std::string& suite) const {
  std::lock_guard lock(impl_->mutex);
  sql::Statement statement(impl_->db(),
                           "SELECT run, suite, name, params, real_time, cpu_time, time_unit, iterations, counters, "
                           "host, created_at FROM benchmark_results WHERE (CAST(?1 AS BIGINT) IS NULL OR run = CAST(?1 AS BIGINT)) AND "
                           "(?2 = '' OR suite = ?2) ORDER BY id");
  statement.bind(1, run).bind(2, suite);
  std::vector<BenchmarkResult> results;
  while (statement.step()) {
    BenchmarkResult result;
    if (!statement.is_null(0)) result.run = statement.int64(0);
    result.suite = statement.text(1);
    result.name = statement.text(2);
    result.params = parse_json_column(statement.text(3));
    result.real_time = read_real(statement, 4);
    result.cpu_time = read_real(statement, 5);
    result.time_unit = statement.text(6);
    result.iterations = statement.int64(7);
    result.counters = parse_json_column(statement.text(8));
    result.host = statement.text(9);
    result.created_at = statement.text(10);
    results.push_back(std::move(result));
  }
  return results;
}

void Store::add_stage_timings(RunId run, const std::vector<StageTiming>& timings) {
  std::lock_guard lock(impl_->mutex);
  sql::Transaction transaction(impl_->db());
  sql::Statement statement(impl_->db(),
                           "INSERT INTO stage_timings (run, stage, system, worker, seconds) VALUES (?1, ?2, ?3, ?4, ?5) "
                           "ON CONFLICT (run, stage, system, worker) DO UPDATE SET seconds = stage_timings.seconds + "
                           "excluded.seconds");
  for (const auto& timing : timings) {
    statement.reset();
    statement.bind(1, run).bind(2, timing.stage).bind(3, timing.system).bind(4, timing.worker).bind(5, timing.seconds);
    statement.run();
  }
  transaction.commit();
}

std::vector<StageTiming> Store::stage_timings(RunId run) const {
  std::lock_guard lock(impl_->mutex);
  sql::Statement statement(impl_->db(),
                           "SELECT stage, system, SUM(seconds) FROM stage_timings WHERE run = ?1 "
                           "GROUP BY stage, system ORDER BY MIN(id)");
  statement.bind(1, run);
  std::vector<StageTiming> timings;
  while (statement.step()) timings.push_back({statement.text(0), statement.text(1), statement.real(2), ""});
  return timings;
}

// ---- embedding cache ----

std::vector<std::optional<std::vector<float>>> Store::get_embeddings(const std::vector<std::string>& image_sha256,
                                                                     const std::string& model,
                                                                     const std::string& preprocessing) const {
  std::lock_guard lock(impl_->mutex);
  sql::Statement statement(impl_->db(),
                           "SELECT dims, vector FROM embedding_cache WHERE image_sha256 = ?1 AND model = ?2 AND "
                           "preprocessing = ?3");
  std::vector<std::optional<std::vector<float>>> found;
  found.reserve(image_sha256.size());
  for (const auto& sha : image_sha256) {
    statement.reset();
    statement.bind(1, sha).bind(2, model).bind(3, preprocessing);
    if (!statement.step()) {
      found.emplace_back();
      continue;
    }
    const auto dims = static_cast<std::size_t>(statement.int64(0));
    const auto bytes = statement.blob(1);
    if (bytes.size() != dims * sizeof(float)) {
      found.emplace_back();  // a damaged entry is recomputed, not trusted
      continue;
    }
    std::vector<float> values(dims);
    std::memcpy(values.data(), bytes.data(), bytes.size());
    found.emplace_back(std::move(values));
    statement.reset();
  }
  return found;
}

void Store::put_embeddings(const std::vector<Embedding>& embeddings, const std::string& model,
                           const std::string& preprocessing) {
  std::lock_guard lock(impl_->mutex);
  sql::Transaction transaction(impl_->db());
  sql::Statement statement(impl_->db(),
                           "INSERT INTO embedding_cache (image_sha256, model, preprocessing, dims, vector) "
                           "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (image_sha256, model, preprocessing) DO UPDATE SET "
                           "dims = excluded.dims, vector = excluded.vector");
  for (const auto& embedding : embeddings) {
    statement.reset();
    statement.bind(1, embedding.image_sha256).bind(2, model).bind(3, preprocessing).bind(
        4, static_cast<std::int64_t>(embedding.values.size()));
    statement.bind_blob(5, embedding.values.data(), embedding.values.size() * sizeof(float));
    statement.run();
  }
  transaction.commit();
}

std::string Store::file_sha256(const std::filesystem::path& file) {
  std::error_code error;
  const auto absolute = std::filesystem::absolute(file, error).lexically_normal().string();
  struct stat status {};
  if (error || ::stat(absolute.c_str(), &status) != 0 || !S_ISREG(status.st_mode)) {
    throw core::InputError(core::Location{file.string(), 0, ""}, "a readable regular file");
  }
  const auto bytes = static_cast<std::int64_t>(status.st_size);
  const auto mtime_ns = static_cast<std::int64_t>(status.st_mtim.tv_sec) * 1'000'000'000 + status.st_mtim.tv_nsec;
  {
    std::lock_guard lock(impl_->mutex);
    sql::Statement statement(impl_->db(),
                             "SELECT sha256 FROM file_digests WHERE path = ?1 AND bytes = ?2 AND mtime_ns = ?3");
    statement.bind(1, absolute).bind(2, bytes).bind(3, mtime_ns);
    if (statement.step()) return statement.text(0);
  }
  const std::string digest = core::sha256_file(absolute);  // outside the lock: gigabytes take seconds
  std::lock_guard lock(impl_->mutex);
  sql::Transaction transaction(impl_->db());
  sql::Statement statement(impl_->db(),
                           "INSERT INTO file_digests (path, bytes, mtime_ns, sha256) VALUES (?1, ?2, ?3, ?4) "
                           "ON CONFLICT (path, bytes, mtime_ns) DO UPDATE SET sha256 = excluded.sha256");
  statement.bind(1, absolute).bind(2, bytes).bind(3, mtime_ns).bind(4, digest);
  statement.run();
  transaction.commit();
  return digest;
}

// ---- director calls ----

std::optional<director::RecordedCall> Store::find_director_call(const std::string& request_hash) const {
  std::lock_guard lock(impl_->mutex);
  return find_call(impl_->db(), request_hash);
}

void Store::record_director_call(const director::RecordedCall& call, std::optional<RunId> run) {
  std::lock_guard lock(impl_->mutex);
  sql::Transaction transaction(impl_->db());
  insert_call(impl_->db(), call, run);
  transaction.commit();
}

std::size_t Store::director_call_count() const {
  std::lock_guard lock(impl_->mutex);
  sql::Statement statement(impl_->db(), "SELECT COUNT(*) FROM director_calls");
  statement.step();
  return static_cast<std::size_t>(statement.int64(0));
}

// ---- merge ----

RunId Store::merge_run_from(const Store& source, RunId source_run) {
  const RunInfo run = source.get_run(source_run);
  RunId target = 0;
  if (const auto existing = runs_with_config_hash(run.config_hash); !existing.empty()) {
    target = existing.back().id;  // the oldest: merging many shards always lands in one run
  } else {
    target = create_run({run.name, run.config_json, run.config_hash, run.project_version, run.host, run.output_dir});
  }

  std::vector<NewItem> items;
  const auto source_items = source.list_items(source_run);
  for (const auto& item : source_items) items.push_back({item.key, item.group, item.cost, item.label});
  add_items(target, items);

  std::lock_guard lock(impl_->mutex);
  auto& db = impl_->db();
  {
    sql::Transaction transaction(db);
    sql::Statement lookup(db,
                          "SELECT id, status FROM work_items WHERE run = ?1 AND system = ?2 AND story = ?3 AND "
                          "kind = ?4 AND idx = ?5 AND seed = ?6");
    sql::Statement finish(db,
                          "UPDATE work_items SET status = ?2, info = ?3, seconds = ?4, error = ?5, attempts = ?6, "
                          "worker = ?7, lease_until = 0 WHERE id = ?1");
    for (const auto& item : source_items) {
      lookup.reset();
      lookup.bind(1, target).bind(2, item.key.system).bind(3, item.key.story).bind(4, item.key.kind).bind(
          5, item.key.index).bind(6, item.key.seed);
      if (!lookup.step()) continue;
      const ItemId id = lookup.int64(0);
      const std::string status = lookup.text(1);
      // Finished work wins; a failure only replaces work that never started.
      const bool take = (item.status == "done" && status != "done") || (item.status == "failed" && status == "pending");
      if (!take) continue;
      finish.reset();
      finish.bind(1, id).bind(2, item.status).bind(3, item.info.dump()).bind(4, item.seconds).bind(5, item.error).bind(
          6, item.attempts).bind(7, item.worker);
      finish.run();
      const auto rows = source.artifacts_of_item(item.id);
      write_artifacts(db, id, std::vector<ArtifactRecord>(rows.begin(), rows.end()));
    }
    transaction.commit();
  }
  put_metric_values(target, source.metric_values(source_run));
  replace_metric_summaries(target, source.metric_summaries(source_run));
  {
    std::lock_guard source_lock(source.impl_->mutex);
    sql::Transaction transaction(db);
    sql::Statement timings(source.impl_->db(),
                           "SELECT stage, system, worker, seconds FROM stage_timings WHERE run = ?1");
    timings.bind(1, source_run);
    sql::Statement insert(db,
                          "INSERT INTO stage_timings (run, stage, system, worker, seconds) VALUES (?1, ?2, "
                          "?3, ?4, ?5) ON CONFLICT DO NOTHING");
    while (timings.step()) {
      insert.reset();
      insert.bind(1, target).bind(2, timings.text(0)).bind(3, timings.text(1)).bind(4, timings.text(2)).bind(
          5, timings.real(3));
      insert.run();
    }
    sql::Statement calls(source.impl_->db(), std::string("SELECT ") + kCallColumns + " FROM director_calls");
    while (calls.step()) {
      const auto call = read_call(calls);
      if (!find_call(db, call.request_hash)) insert_call(db, call, target);
    }
    transaction.commit();
  }
  auto benchmarks = source.benchmark_results(source_run);
  for (auto& result : benchmarks) result.run = target;
  add_benchmark_results(benchmarks);

  // The merged run's status follows its items.
  const StatusTotals merged = totals(target);
  set_run_status(target, merged.unfinished() > 0 ? "interrupted" : merged.failed > 0 ? "failed" : "finished",
                 "merged");
  return target;
}

std::shared_ptr<director::CallStore> Store::open_call_store(std::optional<RunId> run) const {
  return std::make_shared<SqliteCallStore>(impl_->location, run);
}

// ---- SqliteCallStore ----

struct SqliteCallStore::Impl {
  std::mutex mutex;
  std::unique_ptr<sql::Database> connection;
  std::optional<RunId> run;
};

SqliteCallStore::SqliteCallStore(const std::filesystem::path& store_path, std::optional<RunId> run)
    : impl_(std::make_unique<Impl>()) {
  impl_->connection = open_database(store_path.string());
  impl_->run = run;
}

SqliteCallStore::~SqliteCallStore() = default;

std::optional<director::RecordedCall> SqliteCallStore::find(const std::string& request_hash) {
  std::lock_guard lock(impl_->mutex);
  return find_call(*impl_->connection, request_hash);
}

void SqliteCallStore::record(const director::RecordedCall& call) {
  std::lock_guard lock(impl_->mutex);
  sql::Transaction transaction(*impl_->connection);
  insert_call(*impl_->connection, call, impl_->run);
  transaction.commit();
}

}  // namespace dsbench::store
