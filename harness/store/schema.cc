// The store's migrations. Migration N brings a store from user_version N-1 to N; a
// released migration is never edited: a later change is a new entry at the end.
#include "harness/store/schema.h"

namespace dsbench::store::schema {

const std::vector<std::string>& migrations() {
  static const std::vector<std::string> steps = {
      // 1: the first schema.
      R"sql(
CREATE TABLE runs (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  config_json TEXT NOT NULL,
  config_hash TEXT NOT NULL,
  project_version TEXT NOT NULL,
  host TEXT NOT NULL,
  output_dir TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'created',
  message TEXT NOT NULL DEFAULT '',
  created_at TEXT NOT NULL,
  started_at TEXT NOT NULL DEFAULT '',
  finished_at TEXT NOT NULL DEFAULT ''
);
CREATE INDEX runs_by_config_hash ON runs(config_hash);

CREATE TABLE work_items (
  id INTEGER PRIMARY KEY,
  run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  system TEXT NOT NULL,
  story TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('portrait', 'scene')),
  idx INTEGER NOT NULL,
  seed INTEGER NOT NULL,
  group_key TEXT NOT NULL,
  label TEXT NOT NULL DEFAULT '',
  cost REAL NOT NULL DEFAULT 1,
  status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'done', 'failed')),
  worker TEXT NOT NULL DEFAULT '',
  lease_until REAL NOT NULL DEFAULT 0,
  attempts INTEGER NOT NULL DEFAULT 0,
  seconds REAL NOT NULL DEFAULT 0,
  error TEXT NOT NULL DEFAULT '',
  info TEXT NOT NULL DEFAULT '{}',
  finished_at TEXT NOT NULL DEFAULT '',
  UNIQUE (run, system, story, kind, idx, seed)
);
CREATE INDEX work_items_by_status ON work_items(run, status);
CREATE INDEX work_items_by_group ON work_items(run, group_key, kind);

CREATE TABLE artifacts (
  id INTEGER PRIMARY KEY,
  item INTEGER NOT NULL REFERENCES work_items(id) ON DELETE CASCADE,
  kind TEXT NOT NULL,
  name TEXT NOT NULL,
  path TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  bytes INTEGER NOT NULL,
  UNIQUE (item, name)
);

CREATE TABLE metric_values (
  id INTEGER PRIMARY KEY,
  run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  system TEXT NOT NULL,
  story TEXT NOT NULL,
  scene INTEGER NOT NULL,
  seed INTEGER NOT NULL,
  metric TEXT NOT NULL,
  value REAL,
  extra TEXT NOT NULL DEFAULT '{}',
  UNIQUE (run, system, story, scene, seed, metric)
);

CREATE TABLE metric_summaries (
  id INTEGER PRIMARY KEY,
  run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  system TEXT NOT NULL,
  metric TEXT NOT NULL,
  group_kind TEXT NOT NULL,
  group_value TEXT NOT NULL,
  n INTEGER NOT NULL,
  mean REAL,
  std REAL,
  ci_low REAL,
  ci_high REAL,
  UNIQUE (run, system, metric, group_kind, group_value)
);

CREATE TABLE director_calls (
  id INTEGER PRIMARY KEY,
  run INTEGER REFERENCES runs(id) ON DELETE SET NULL,
  backend TEXT NOT NULL,
  model TEXT NOT NULL,
  request_hash TEXT NOT NULL UNIQUE,
  template_hash TEXT NOT NULL,
  request TEXT NOT NULL,
  response TEXT NOT NULL,
  tokens_in INTEGER NOT NULL,
  tokens_out INTEGER NOT NULL,
  latency_ms REAL NOT NULL,
  status TEXT NOT NULL,
  created_at TEXT NOT NULL
);

CREATE TABLE benchmark_results (
  id INTEGER PRIMARY KEY,
  run INTEGER REFERENCES runs(id) ON DELETE SET NULL,
  suite TEXT NOT NULL,
  name TEXT NOT NULL,
  params TEXT NOT NULL,
  real_time REAL,
  cpu_time REAL,
  time_unit TEXT NOT NULL,
  iterations INTEGER NOT NULL,
  counters TEXT NOT NULL,
  host TEXT NOT NULL,
  created_at TEXT NOT NULL,
  UNIQUE (run, suite, name, params, host, created_at)
);

CREATE TABLE stage_timings (
  id INTEGER PRIMARY KEY,
  run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  stage TEXT NOT NULL,
  system TEXT NOT NULL,
  worker TEXT NOT NULL,
  seconds REAL NOT NULL,
  UNIQUE (run, stage, system, worker)
);

CREATE TABLE embedding_cache (
  image_sha256 TEXT NOT NULL,
  model TEXT NOT NULL,
  preprocessing TEXT NOT NULL,
  dims INTEGER NOT NULL,
  vector BLOB NOT NULL,
  PRIMARY KEY (image_sha256, model, preprocessing)
) WITHOUT ROWID;
)sql",
      // 2: content digests of weight files, memoised by (path, size, mtime) so that a
      // model's cache identity follows its bytes without rehashing gigabytes each time.
      R"sql(
CREATE TABLE file_digests (
  path TEXT NOT NULL,
  bytes INTEGER NOT NULL,
  mtime_ns INTEGER NOT NULL,
  sha256 TEXT NOT NULL,
  PRIMARY KEY (path, bytes, mtime_ns)
) WITHOUT ROWID;
)sql",
  };
  return steps;
}

}  // namespace dsbench::store::schema
