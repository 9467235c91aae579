#include "pipeline/diffusion/unet.h"

#include <gtest/gtest.h>

#include "core/errors.h"
#include "pipeline/diffusion/vae.h"

namespace dsbench::diffusion {
namespace {

std::int64_t count_parameters(const torch::nn::Module& module) {
  std::int64_t total = 0;
  for (const auto& parameter : module.parameters()) total += parameter.numel();
  return total;
}

TEST(UNetTest, Sd15HasThePublishedParameterCount) {
  torch::NoGradGuard no_grad;
  const UNet unet(UNetConfig::sd15());
  EXPECT_EQ(count_parameters(*unet), 859'520'964);
}

TEST(VaeTest, Sd15HasThePublishedParameterCount) {
  torch::NoGradGuard no_grad;
  const AutoencoderKL vae(VaeConfig::sd15());
  EXPECT_EQ(count_parameters(*vae), 83'653'863);
}

}  // namespace
}  // namespace dsbench::diffusion

namespace dsbench::diffusion {
namespace {

// ~10 GB of parameters: run by hand with --gtest_also_run_disabled_tests.
TEST(UNetTest, DISABLED_SdxlHasThePublishedParameterCount) {
  torch::NoGradGuard no_grad;
  const UNet unet(UNetConfig::sdxl());
  EXPECT_EQ(count_parameters(*unet), 2'567'463'684);
}

}  // namespace
}  // namespace dsbench::diffusion
