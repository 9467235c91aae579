#include "metrics/dnc.h"

#include <stdexcept>

namespace dsbench::metrics {

Eigen::MatrixXd cosine_similarities(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b) {
  if (a.cols() != b.cols()) throw std::invalid_argument("embedding widths differ");
  return a.rowwise().normalized() * b.rowwise().normalized().transpose();
}

double dnc_score(const Eigen::MatrixXd& detections, const std::vector<Eigen::MatrixXd>& references) {
  const auto subjects = static_cast<Eigen::Index>(references.size());
  if (subjects == 0) throw std::invalid_argument("D&C needs at least one subject");
  if (detections.rows() != subjects) return 0.0;
  Eigen::MatrixXd s_dc(subjects, subjects);
  Eigen::MatrixXd s_gt(subjects, subjects);
  for (Eigen::Index s = 0; s < subjects; ++s) {
    s_dc.col(s) = cosine_similarities(detections, references[s]).rowwise().mean();
    for (Eigen::Index t = 0; t < subjects; ++t)
      s_gt(s, t) = cosine_similarities(references[s], references[t]).mean();
  }
  Eigen::MatrixXd matched(subjects, subjects);
  std::vector<bool> used(static_cast<std::size_t>(subjects), false);
  for (Eigen::Index s = 0; s < subjects; ++s) {
    Eigen::Index best = -1;
    for (Eigen::Index row = 0; row < subjects; ++row)
      if (!used[row] && (best < 0 || s_dc(row, s) > s_dc(best, s))) best = row;
    used[best] = true;
    matched.row(s) = s_dc.row(best);
  }
  const Eigen::JacobiSVD<Eigen::MatrixXd> svd(matched - s_gt);
  return 1.0 - svd.singularValues()(0);
}

}  // namespace dsbench::metrics
