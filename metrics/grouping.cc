#include "metrics/grouping.h"

#include <utility>

namespace dsbench::metrics {

std::vector<StatisticsRow> summarize_groups(const std::vector<Observation>& observations,
                                            const std::vector<std::string>& group_by,
                                            const BootstrapOptions& options) {
  using GroupKey = std::pair<std::map<std::string, std::string>, std::string>;
  std::map<GroupKey, std::vector<double>> values;
  for (const Observation& o : observations) {
    std::map<std::string, std::string> group;
    for (const std::string& key : group_by) {
      const auto found = o.keys.find(key);
      group[key] = found == o.keys.end() ? "" : found->second;
    }
    values[{std::move(group), o.metric}].push_back(o.value);
  }
  std::vector<StatisticsRow> rows;
  for (const auto& [key, group_values] : values) {
    const Summary s = summarize(group_values, options);
    rows.push_back({key.first, key.second, s.n, s.mean, s.std, s.ci95.low, s.ci95.high});
  }
  return rows;
}

}  // namespace dsbench::metrics
