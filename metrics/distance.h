#pragma once
// DreamSim distance between two embeddings. Packaged form (dreamsim(), default):
// each embedding minus its own mean over dimensions, L2-normalised, 1 - cosine.
// Uncentred form (training / NIGHTS evaluation): 1 - cosine of the raw embeddings.
#include <span>
#include <stdexcept>
#include <Eigen/Dense>

namespace dsbench::metrics {

enum class DistanceForm { packaged_mean_centred, uncentred };

inline double dreamsim_distance(std::span<const float> a, std::span<const float> b,
                                DistanceForm form = DistanceForm::packaged_mean_centred) {
  if (a.size() != b.size() || a.empty()) throw std::invalid_argument("embedding sizes differ");
  Eigen::ArrayXd x = Eigen::Map<const Eigen::ArrayXf>(a.data(), a.size()).cast<double>();
  Eigen::ArrayXd y = Eigen::Map<const Eigen::ArrayXf>(b.data(), b.size()).cast<double>();
  if (form == DistanceForm::packaged_mean_centred) {
    x -= x.mean();
    y -= y.mean();
  }
  return 1.0 - (x * y).sum() / (x.matrix().norm() * y.matrix().norm());
}

}  // namespace dsbench::metrics
