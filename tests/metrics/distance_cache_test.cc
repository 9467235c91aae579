#include <gtest/gtest.h>

#include <vector>

#include "metrics/distance.h"
#include "metrics/embedding_cache.h"

namespace dsbench::metrics {
namespace {

TEST(Distance, PackagedAndUncentredByHand) {
  const std::vector<float> a{1, 0, 0}, b{0, 1, 0};
  EXPECT_NEAR(dreamsim_distance(a, b, DistanceForm::uncentred), 1.0, 1e-12);
  // centred: a' = (2,-1,-1)/3, b' = (-1,2,-1)/3; cos = (-2-2+1)/6 = -0.5
  EXPECT_NEAR(dreamsim_distance(a, b), 1.5, 1e-12);
  EXPECT_THROW(dreamsim_distance(a, std::vector<float>{1, 2}), std::invalid_argument);
}

TEST(EmbeddingCache, KeyIncludesModelAndPreprocessing) {
  InMemoryEmbeddingCache cache;
  cache.store({"abc", "dreamsim-tiny", "v1"}, {1.0F, 2.0F});
  EXPECT_EQ(cache.find({"abc", "dreamsim-tiny", "v1"}), (std::vector<float>{1.0F, 2.0F}));
  EXPECT_FALSE(cache.find({"abc", "dreamsim-tiny", "v2"}).has_value());
  EXPECT_FALSE(cache.find({"abc", "dreamsim-ensemble", "v1"}).has_value());
}

}  // namespace
}  // namespace dsbench::metrics
