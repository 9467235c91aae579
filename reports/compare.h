// Run comparison, the nightly gate: metric values of two runs paired by (system, story,
// scene, seed), a paired bootstrap of each metric's delta, and the config's thresholds
// deciding what counts as a regression; stage timings and kernel benchmarks compared by
// ratio against a noise tolerance.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/config/config.h"
#include "harness/store/store.h"

namespace dsbench::reports {

struct MetricDelta {
  std::string system;
  std::string metric;
  std::size_t pairs = 0;          // values present in both runs
  double baseline_mean = 0.0;     // over the pairs
  double candidate_mean = 0.0;
  double delta = 0.0;             // candidate - baseline
  double ci_low = 0.0;            // paired bootstrap 95 % CI of the delta
  double ci_high = 0.0;
  bool has_threshold = false;
  bool regression = false;
  std::string note;               // why it is (not) a regression
};

struct RatioDelta {
  std::string kind;               // "stage" (relative to vanilla's), "stage (raw)" (never gated) | "benchmark"
  std::string name;               // "scene/vanilla", "BM_mmsa_grouped/S:4/h:64/w:64"
  double baseline = 0.0;          // seconds (stage) or time per iteration (benchmark)
  double candidate = 0.0;
  double ratio = 0.0;             // candidate / baseline
  bool regression = false;
};

struct Comparison {
  store::RunId baseline = 0;
  store::RunId candidate = 0;
  std::vector<MetricDelta> metrics;
  std::vector<RatioDelta> ratios;
  std::vector<std::string> problems;  // e.g. a thresholded metric missing from the candidate

  bool regression() const;
  std::vector<std::string> regressed_names() const;
};

// `thresholds` decide; `compare.bootstrap_samples` / `seed` drive the paired bootstrap.
Comparison compare_runs(const store::Store& baseline_store, store::RunId baseline, const store::Store& candidate_store,
                        store::RunId candidate, const harness::CompareConfig& compare);

std::string format_comparison(const Comparison& comparison);  // a plain-text table
nlohmann::json comparison_json(const Comparison& comparison);

}  // namespace dsbench::reports
