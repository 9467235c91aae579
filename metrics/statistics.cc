#include "metrics/statistics.h"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <random>
#include <stdexcept>

#include "core/errors.h"

namespace dsbench::metrics {
namespace {

Eigen::Map<const Eigen::ArrayXd> as_array(std::span<const double> values) {
  return {values.data(), static_cast<Eigen::Index>(values.size())};
}

double percentile(std::vector<double> sorted_values, double q) {
  std::sort(sorted_values.begin(), sorted_values.end());
  const double position = q * static_cast<double>(sorted_values.size() - 1);
  const auto below = static_cast<std::size_t>(std::floor(position));
  const auto above = std::min(below + 1, sorted_values.size() - 1);
  const double fraction = position - static_cast<double>(below);
  return sorted_values[below] + fraction * (sorted_values[above] - sorted_values[below]);
}

}  // namespace

double mean(std::span<const double> values) {
  if (values.empty()) throw std::invalid_argument("mean of no values");
  return as_array(values).mean();
}

double sample_std(std::span<const double> values) {
  if (values.size() < 2) return 0.0;
  const auto array = as_array(values);
  const double centre = array.mean();
  return std::sqrt((array - centre).square().sum() / static_cast<double>(values.size() - 1));
}

Interval bootstrap_ci95(std::span<const double> values, const BootstrapOptions& options) {
  if (values.empty()) throw std::invalid_argument("bootstrap of no values");
  std::mt19937_64 generator(options.seed);
  std::uniform_int_distribution<std::size_t> pick(0, values.size() - 1);
  std::vector<double> means(static_cast<std::size_t>(std::max(options.resamples, 1)));
  for (double& resampled_mean : means) {
    double total = 0.0;
    for (std::size_t i = 0; i < values.size(); ++i) total += values[pick(generator)];
    resampled_mean = total / static_cast<double>(values.size());
  }
  return {percentile(means, 0.025), percentile(means, 0.975)};
}

Summary summarize(std::span<const double> values, const BootstrapOptions& options) {
  return {values.size(), mean(values), sample_std(values), bootstrap_ci95(values, options)};
}

Summary summarize_paired_delta(std::span<const double> treatment, std::span<const double> control,
                               const BootstrapOptions& options) {
  if (treatment.size() != control.size())
    throw std::invalid_argument("paired delta needs the same stories in both arms");
  std::vector<double> deltas(treatment.size());
  for (std::size_t i = 0; i < deltas.size(); ++i) deltas[i] = treatment[i] - control[i];
  return summarize(deltas, options);
}

}  // namespace dsbench::metrics
