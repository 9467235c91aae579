// The published parameter counts of sd15's networks are checked through the profile
// (stable_diffusion_test.cc, ProfilesTest.Sd15NetworksHaveThePublishedParameterCounts).
#include "pipeline/diffusion/unet.h"

#include <gtest/gtest.h>

#include "core/errors.h"

namespace dsbench::diffusion {
namespace {

std::int64_t count_parameters(const torch::nn::Module& module) {
  std::int64_t total = 0;
  for (const auto& parameter : module.parameters()) total += parameter.numel();
  return total;
}

// ~10 GB of parameters: run by hand with --gtest_also_run_disabled_tests.
TEST(UNetTest, DISABLED_SdxlHasThePublishedParameterCount) {
  torch::NoGradGuard no_grad;
  const UNet unet(UNetConfig::sdxl());
  EXPECT_EQ(count_parameters(*unet), 2'567'463'684);
}

}  // namespace
}  // namespace dsbench::diffusion
