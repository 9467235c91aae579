#pragma once
// Per-group summaries ready for storage: one row per (group keys, metric).
#include <map>
#include <string>
#include <vector>

#include "metrics/statistics.h"

namespace dsbench::metrics {

struct Observation {  // one story's value of one metric
  std::map<std::string, std::string> keys;  // e.g. system, category, subject_count
  std::string metric;
  double value = 0.0;
};

struct StatisticsRow {
  std::map<std::string, std::string> group;  // only the keys grouped by
  std::string metric;
  std::size_t n = 0;
  double mean = 0.0, std = 0.0, ci_low = 0.0, ci_high = 0.0;
};

// Groups observations by the named keys (e.g. {"system"}, {"system", "category"}) and
// metric; missing keys group as "". Rows are ordered by group then metric.
std::vector<StatisticsRow> summarize_groups(const std::vector<Observation>& observations,
                                            const std::vector<std::string>& group_by,
                                            const BootstrapOptions& options = {});

}  // namespace dsbench::metrics
