#include "metrics/statistics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>
#include <vector>

namespace dsbench::metrics {
namespace {

TEST(Statistics, MeanAndSampleStdByHand) {
  const std::vector<double> values{1.0, 2.0, 3.0, 4.0};
  EXPECT_DOUBLE_EQ(mean(values), 2.5);
  // squared deviations 2.25+0.25+0.25+2.25 = 5, over n-1 = 3
  EXPECT_NEAR(sample_std(values), std::sqrt(5.0 / 3.0), 1e-12);
  EXPECT_EQ(sample_std(std::vector<double>{7.0}), 0.0);
}

TEST(Statistics, BootstrapOfConstantIsThatConstant) {
  const std::vector<double> values(10, 0.42);
  const Interval ci = bootstrap_ci95(values);
  EXPECT_DOUBLE_EQ(ci.low, 0.42);
  EXPECT_DOUBLE_EQ(ci.high, 0.42);
}

TEST(Statistics, BootstrapIsSeededAndBracketsTheMean) {
  const std::vector<double> values{0.1, 0.5, 0.3, 0.9, 0.2, 0.7, 0.4, 0.6};
  const Summary a = summarize(values, {1000, 7});
  const Summary b = summarize(values, {1000, 7});
  const Summary c = summarize(values, {1000, 8});
  EXPECT_EQ(a.ci95.low, b.ci95.low);
  EXPECT_EQ(a.ci95.high, b.ci95.high);
  EXPECT_NE(a.ci95.low, c.ci95.low);
  EXPECT_EQ(a.n, 8u);
  EXPECT_LT(a.ci95.low, a.mean);
  EXPECT_GT(a.ci95.high, a.mean);
  EXPECT_GE(a.ci95.low, 0.1);
  EXPECT_LE(a.ci95.high, 0.9);
}

TEST(Statistics, PairedDeltaOfShiftedArmIsExact) {
  const std::vector<double> control{0.1, 0.5, 0.3, 0.9};
  const std::vector<double> treatment{0.3, 0.7, 0.5, 1.1};
  const Summary delta = summarize_paired_delta(treatment, control);
  EXPECT_NEAR(delta.mean, 0.2, 1e-12);
  EXPECT_NEAR(delta.ci95.low, 0.2, 1e-12);
  EXPECT_NEAR(delta.ci95.high, 0.2, 1e-12);
}

TEST(Statistics, ErrorsOnEmptyOrMismatched) {
  EXPECT_THROW(mean(std::vector<double>{}), std::invalid_argument);
  EXPECT_THROW(bootstrap_ci95(std::vector<double>{}), std::invalid_argument);
  EXPECT_THROW(summarize_paired_delta(std::vector<double>{1.0}, std::vector<double>{1.0, 2.0}),
               std::invalid_argument);
}

}  // namespace
}  // namespace dsbench::metrics

#include "metrics/grouping.h"

namespace dsbench::metrics {
namespace {

TEST(Grouping, RowsPerSystemAndMetric) {
  const std::vector<Observation> obs{{{{"system", "a"}}, "dreamsim", 0.2},
                                     {{{"system", "a"}}, "dreamsim", 0.4},
                                     {{{"system", "b"}}, "dreamsim", 0.6}};
  const auto rows = summarize_groups(obs, {"system"});
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].group.at("system"), "a");
  EXPECT_EQ(rows[0].n, 2u);
  EXPECT_NEAR(rows[0].mean, 0.3, 1e-12);
  EXPECT_NEAR(rows[1].mean, 0.6, 1e-12);
  EXPECT_EQ(rows[1].metric, "dreamsim");
}

}  // namespace
}  // namespace dsbench::metrics
