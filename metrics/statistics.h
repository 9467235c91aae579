#pragma once
// Summary statistics over stories: mean, sample std, seeded percentile bootstrap 95 % CI,
// and a paired bootstrap for deltas between two systems scored on the same stories.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace dsbench::metrics {

struct Interval {
  double low = 0.0;
  double high = 0.0;
};

struct Summary {
  std::size_t n = 0;
  double mean = 0.0;
  double std = 0.0;  // sample standard deviation (n - 1); 0 when n < 2
  Interval ci95;
};

struct BootstrapOptions {
  int resamples = 1000;
  std::uint64_t seed = 0;
};

double mean(std::span<const double> values);
double sample_std(std::span<const double> values);

// Percentile bootstrap of the mean: resample stories with replacement, take the 2.5 and
// 97.5 percentiles (linear interpolation, numpy's default) of the resampled means.
Interval bootstrap_ci95(std::span<const double> values, const BootstrapOptions& options = {});

Summary summarize(std::span<const double> values, const BootstrapOptions& options = {});

// Paired: the same resampled story indices for both arms, so per-story correlation is kept.
Summary summarize_paired_delta(std::span<const double> treatment, std::span<const double> control,
                               const BootstrapOptions& options = {});

}  // namespace dsbench::metrics
