#include "metrics/dnc.h"

#include <gtest/gtest.h>

namespace dsbench::metrics {
namespace {

Eigen::MatrixXd rows(std::initializer_list<std::initializer_list<double>> values) {
  Eigen::MatrixXd m(values.size(), values.begin()->size());
  int r = 0;
  for (const auto& row : values) { int c = 0; for (double v : row) m(r, c++) = v; ++r; }
  return m;
}

TEST(Dnc, PerfectSeparatedDetectionsScoreOne) {
  // Orthogonal subjects, detections equal to references (in swapped order): S_DC = S_GT = I.
  const std::vector<Eigen::MatrixXd> refs{rows({{1, 0}}), rows({{0, 1}})};
  EXPECT_NEAR(dnc_score(rows({{0, 1}, {1, 0}}), refs), 1.0, 1e-12);
}

TEST(Dnc, MixedIdentityScoreByHand) {
  // Detections both at 45 degrees: S_DC rows = [c, c], c = 1/sqrt2; S_GT = I.
  // Difference [[c-1, c], [c, c-1]] is symmetric with eigenvalues 2c-1 and -1: norm 1.
  const std::vector<Eigen::MatrixXd> refs{rows({{1, 0}}), rows({{0, 1}})};
  EXPECT_NEAR(dnc_score(rows({{1, 1}, {1, 1}}), refs), 0.0, 1e-12);
}

TEST(Dnc, WrongDetectionCountScoresZero) {
  const std::vector<Eigen::MatrixXd> refs{rows({{1, 0}}), rows({{0, 1}})};
  EXPECT_EQ(dnc_score(rows({{1, 0}}), refs), 0.0);
  EXPECT_EQ(dnc_score(rows({{1, 0}, {0, 1}, {1, 1}}), refs), 0.0);
}

}  // namespace
}  // namespace dsbench::metrics
