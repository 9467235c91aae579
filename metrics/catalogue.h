// The metrics dsbench reports, with the one fact every consumer needs besides the name:
// which direction is better. Configs validate metric names against this list, `dsbench
// compare` takes a threshold's default direction from it, reports label axes with it.
#pragma once

#include <string>
#include <vector>

namespace dsbench::metrics {

struct MetricInfo {
  std::string name;
  bool higher_is_better = false;
  std::string unit;         // axis label, e.g. "DreamSim distance"
  std::string description;  // one line
};

// In report order.
const std::vector<MetricInfo>& metric_catalogue();
std::vector<std::string> metric_names();
// nullptr for a name that is not in the catalogue (director scores, imported metrics).
const MetricInfo* find_metric(const std::string& name);

}  // namespace dsbench::metrics
