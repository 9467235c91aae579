#include "reports/compare.h"

#include <cmath>
#include <cstdio>
#include <map>
#include <sstream>
#include <tuple>

#include "metrics/statistics.h"

namespace dsbench::reports {
namespace {

using Key = std::tuple<std::string, std::string, int, std::uint64_t>;  // story, -, scene, seed

struct Series {
  std::map<Key, double> values;
};

// system -> metric -> values by (story, scene, seed). Run-level aggregates (story "")
// are not pairs; NaN (undefined) values are skipped.
std::map<std::string, std::map<std::string, Series>> index_values(const store::Store& store, store::RunId run) {
  std::map<std::string, std::map<std::string, Series>> index;
  for (const auto& value : store.metric_values(run)) {
    if (value.story.empty() || std::isnan(value.value)) continue;
    index[value.system][value.metric].values[{value.story, "", value.scene, value.seed}] = value.value;
  }
  return index;
}

const harness::MetricThreshold* find_threshold(const harness::CompareConfig& compare, const std::string& metric) {
  for (const auto& threshold : compare.thresholds) {
    if (threshold.metric == metric) return &threshold;
  }
  return nullptr;
}

std::string number(double value, int digits = 4) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", digits, value);
  return text;
}

void judge(MetricDelta& delta, const harness::MetricThreshold& threshold) {
  delta.has_threshold = true;
  const double tolerance = std::max(threshold.abs_tol, threshold.rel_tol * std::abs(delta.baseline_mean));
  // "Worse" is up for lower-is-better metrics, down for higher-is-better ones. A change
  // counts only when it is beyond the tolerance and its whole CI is on the worse side.
  const double worse_by = threshold.higher_is_better ? -delta.delta : delta.delta;
  const double ci_worse_bound = threshold.higher_is_better ? -delta.ci_high : delta.ci_low;
  delta.regression = worse_by > tolerance && ci_worse_bound > 0.0;
  delta.note = std::string(threshold.higher_is_better ? "higher" : "lower") + " is better; tolerance " +
               number(tolerance) + (delta.regression ? "; REGRESSION" : "");
}

}  // namespace

bool Comparison::regression() const { return !regressed_names().empty(); }

std::vector<std::string> Comparison::regressed_names() const {
  std::vector<std::string> names;
  for (const auto& metric : metrics) {
    if (metric.regression) names.push_back(metric.system + "/" + metric.metric);
  }
  for (const auto& ratio : ratios) {
    if (ratio.regression) names.push_back(ratio.kind + " " + ratio.name);
  }
  for (const auto& problem : problems) names.push_back(problem);
  return names;
}

Comparison compare_runs(const store::Store& baseline_store, store::RunId baseline, const store::Store& candidate_store,
                        store::RunId candidate, const harness::CompareConfig& compare) {
  Comparison comparison;
  comparison.baseline = baseline;
  comparison.candidate = candidate;
  const auto base = index_values(baseline_store, baseline);
  const auto cand = index_values(candidate_store, candidate);
  const metrics::BootstrapOptions bootstrap{compare.bootstrap_samples, compare.seed};

  for (const auto& [system, metrics_of_system] : base) {
    for (const auto& [metric, series] : metrics_of_system) {
      MetricDelta delta;
      delta.system = system;
      delta.metric = metric;
      std::vector<double> before;
      std::vector<double> after;
      const auto system_it = cand.find(system);
      if (system_it != cand.end()) {
        const auto metric_it = system_it->second.find(metric);
        if (metric_it != system_it->second.end()) {
          for (const auto& [key, value] : series.values) {
            const auto found = metric_it->second.values.find(key);
            if (found == metric_it->second.values.end()) continue;
            before.push_back(value);
            after.push_back(found->second);
          }
        }
      }
      delta.pairs = before.size();
      const auto* threshold = find_threshold(compare, metric);
      if (before.empty()) {
        if (threshold != nullptr) {
          comparison.problems.push_back(system + "/" + metric + " is missing from the candidate run");
        }
        continue;
      }
      delta.baseline_mean = metrics::mean(before);
      delta.candidate_mean = metrics::mean(after);
      const auto summary = metrics::summarize_paired_delta(after, before, bootstrap);
      delta.delta = summary.mean;
      delta.ci_low = summary.ci95.low;
      delta.ci_high = summary.ci95.high;
      if (threshold != nullptr) judge(delta, *threshold);
      comparison.metrics.push_back(std::move(delta));
    }
  }

  // Stage timings. Wall times of two runs on a shared machine differ with its load, so a
  // system's stage time is judged relative to the reference system's (vanilla's) same
  // stage in the same run: (candidate / its reference) / (baseline / its reference).
  // Stages without a reference in both runs are shown as raw ratios, never gated.
  const std::string reference = "vanilla";
  std::map<std::string, std::map<std::string, double>> base_stages;  // stage -> system -> seconds
  std::map<std::string, std::map<std::string, double>> cand_stages;
  for (const auto& timing : baseline_store.stage_timings(baseline)) base_stages[timing.stage][timing.system] += timing.seconds;
  for (const auto& timing : candidate_store.stage_timings(candidate)) cand_stages[timing.stage][timing.system] += timing.seconds;
  for (const auto& [stage, systems] : cand_stages) {
    const auto base_stage = base_stages.find(stage);
    if (base_stage == base_stages.end()) continue;
    const auto ref_base = base_stage->second.find(reference);
    const auto ref_cand = systems.find(reference);
    const bool normalisable = ref_base != base_stage->second.end() && ref_cand != systems.end() &&
                              ref_base->second > 0.0 && ref_cand->second > 0.0;
    for (const auto& [system, seconds] : systems) {
      const auto found = base_stage->second.find(system);
      if (found == base_stage->second.end() || found->second <= 0.0) continue;
      const std::string name = stage + "/" + system;
      if (normalisable && system != reference) {
        const double before = found->second / ref_base->second;
        const double after = seconds / ref_cand->second;
        RatioDelta ratio{"stage", name + " (vs " + reference + ")", before, after, after / before, false};
        ratio.regression = ratio.ratio > 1.0 + compare.timing_rel_tol;
        comparison.ratios.push_back(ratio);
      } else {
        comparison.ratios.push_back({"stage (raw)", name, found->second, seconds, seconds / found->second, false});
      }
    }
  }
  std::map<std::string, double> base_benchmarks;
  for (const auto& result : baseline_store.benchmark_results(baseline)) base_benchmarks[result.name] = result.real_time;
  for (const auto& result : candidate_store.benchmark_results(candidate)) {
    const auto found = base_benchmarks.find(result.name);
    if (found == base_benchmarks.end() || !(found->second > 0.0)) continue;
    RatioDelta ratio{"benchmark", result.name, found->second, result.real_time, result.real_time / found->second, false};
    ratio.regression = ratio.ratio > 1.0 + compare.timing_rel_tol;
    comparison.ratios.push_back(ratio);
  }
  return comparison;
}

std::string format_comparison(const Comparison& comparison) {
  std::ostringstream out;
  out << "baseline run " << comparison.baseline << " vs candidate run " << comparison.candidate << "\n\n";
  char line[512];
  std::snprintf(line, sizeof line, "%-24s %-24s %6s %10s %10s %10s  %-22s %s\n", "system", "metric", "pairs", "baseline",
                "candidate", "delta", "95% CI", "verdict");
  out << line;
  for (const auto& m : comparison.metrics) {
    const std::string ci = "[" + number(m.ci_low) + ", " + number(m.ci_high) + "]";
    std::snprintf(line, sizeof line, "%-24s %-24s %6zu %10.4f %10.4f %+10.4f  %-22s %s\n", m.system.substr(0, 24).c_str(),
                  m.metric.substr(0, 24).c_str(), m.pairs, m.baseline_mean, m.candidate_mean, m.delta, ci.c_str(),
                  m.regression ? "REGRESSION" : (m.has_threshold ? "ok" : "-"));
    out << line;
  }
  if (!comparison.ratios.empty()) {
    out << "\n";
    std::snprintf(line, sizeof line, "%-10s %-48s %12s %12s %8s %s\n", "kind", "name", "baseline", "candidate", "ratio",
                  "verdict");
    out << line;
    for (const auto& r : comparison.ratios) {
      std::snprintf(line, sizeof line, "%-10s %-48s %12.4g %12.4g %8.3f %s\n", r.kind.c_str(), r.name.substr(0, 48).c_str(),
                    r.baseline, r.candidate, r.ratio, r.regression ? "SLOWER" : "ok");
      out << line;
    }
  }
  for (const auto& problem : comparison.problems) out << "\nproblem: " << problem << "\n";
  const auto regressed = comparison.regressed_names();
  if (regressed.empty()) {
    out << "\nno regression\n";
  } else {
    out << "\nREGRESSION in " << regressed.size() << ":";
    for (const auto& name : regressed) out << " " << name;
    out << "\n";
  }
  return out.str();
}

nlohmann::json comparison_json(const Comparison& comparison) {
  nlohmann::json metrics = nlohmann::json::array();
  for (const auto& m : comparison.metrics) {
    metrics.push_back({{"system", m.system}, {"metric", m.metric}, {"pairs", m.pairs},
                       {"baseline_mean", m.baseline_mean}, {"candidate_mean", m.candidate_mean}, {"delta", m.delta},
                       {"ci_low", m.ci_low}, {"ci_high", m.ci_high}, {"has_threshold", m.has_threshold},
                       {"regression", m.regression}, {"note", m.note}});
  }
  nlohmann::json ratios = nlohmann::json::array();
  for (const auto& r : comparison.ratios) {
    ratios.push_back({{"kind", r.kind}, {"name", r.name}, {"baseline", r.baseline}, {"candidate", r.candidate},
                      {"ratio", r.ratio}, {"regression", r.regression}});
  }
  return {{"baseline", comparison.baseline}, {"candidate", comparison.candidate}, {"metrics", metrics},
          {"ratios", ratios}, {"problems", comparison.problems}, {"regression", comparison.regression()},
          {"regressed", comparison.regressed_names()}};
}

}  // namespace dsbench::reports
