#pragma once
// D&C (Detect-and-Compare, MuDI) on embeddings: the score needs only similarities, so it
// takes embeddings (rows) and knows nothing of how they were computed.
#include <Eigen/Dense>
#include <vector>

namespace dsbench::metrics {

// Cosine similarity of every row of `a` with every row of `b`.
Eigen::MatrixXd cosine_similarities(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b);

// MuDI form. detections: one embedding per detected crop (rows). references[s]: the
// reference embeddings (rows) of subject s. Returns 0 when #detections != #subjects,
// else 1 - spectral norm(S_DC greedily matched column by column - S_GT).
double dnc_score(const Eigen::MatrixXd& detections, const std::vector<Eigen::MatrixXd>& references);

}  // namespace dsbench::metrics
