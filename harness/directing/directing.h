// Directing a run: every configured director backend plans the run's stories (LLM calls
// recorded in and answered from the run store's director_calls table), and each
// backend's director-level scores are written to the run's metric_values. The executor
// calls plan_run() before it adds items; configs/llm-compare.yaml runs several backends
// over the same stories and systems this way.
//
// Metric rows (store::MetricValue) written per backend B:
//   system "director:B", story = story id, scene -1, seed 0: that story's scores
//   system "director:B", story "" (run level),  scene -1, seed 0: the backend's scores
// with metric names from director::score_metrics ("director.subject_recall", ...) and
// extra = {"backend": B, "kind": ..., "model": ..., "level": "story" | "run"}.
#pragma once

#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "datasets/dataset.h"
#include "harness/config/config.h"
#include "harness/store/store.h"
#include "pipeline/director/director.h"
#include "pipeline/director/scores.h"

namespace dsbench::directing {

struct Options {
  bool no_cache = false;              // `--no-cache`: ask the endpoints again (answers are still recorded)
  std::vector<std::string> backends{};  // names to plan with; empty = every configured backend
  std::ostream* log = nullptr;        // one line per backend and per story that could not be planned
  bool write_metrics = true;          // director scores into the store's metric_values
};

// The settings of one configured backend (templates_dir from director.templates_dir).
director::BackendSettings backend_settings(const harness::RunConfig& config,
                                           const harness::DirectorBackendConfig& backend, bool no_cache = false);

// "director:<backend>": the `system` column of a backend's metric rows.
std::string metric_system(const std::string& backend);

struct BackendDirection {
  std::string backend;
  std::string kind;
  std::string model;
  std::vector<director::PlanOutcome> outcomes;  // parallel to the stories
  std::vector<director::CallEvent> events;
  director::DirectorScores scores;
};

struct RunDirection {
  std::vector<BackendDirection> backends;  // config order

  // The plan of `story` by `backend`; null when that backend could not plan it (or did
  // not plan at all).
  const director::StoryPlan* plan_of(const std::string& backend, const std::string& story) const;
  // "story S (director B): why", one per failed story and backend.
  std::vector<std::string> errors() const;
};

// Plans `stories` with every backend of the config (or options.backends), each with up to
// its `concurrency` stories in flight; a story that fails is reported in its outcome and
// the others go on. Calls of openai/replay backends go through a store::SqliteCallStore
// on store.path() tagged with `run`. Writes the metric rows above unless
// options.write_metrics is false. InputError for an unknown backend name or bad settings
// (naming director.backends[i].<field>); RunError when the store fails.
RunDirection plan_run(const harness::RunConfig& config, store::Store& store, store::RunId run,
                      const std::vector<datasets::Story>& stories, const Options& options = {});

// The metric rows of one backend (what plan_run writes).
std::vector<store::MetricValue> director_metric_values(const BackendDirection& direction);

}  // namespace dsbench::directing
