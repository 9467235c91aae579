#include "pipeline/diffusion/parameter_counts.h"

#include <gtest/gtest.h>

#include "core/errors.h"
#include "pipeline/diffusion/profiles.h"
#include "pipeline/diffusion/weights.h"

namespace dsbench::diffusion {
namespace {

TEST(ParameterCountsTest, PublishedCountsFromShapes) {
  EXPECT_EQ(unet_parameter_count(UNetConfig::sd15()), 859'520'964);
  EXPECT_EQ(vae_parameter_count(VaeConfig::sd15()), 83'653'863);
  EXPECT_EQ(clip_text_parameter_count(ClipTextConfig::sd15()), 123'060'480);
  // SDXL base UNet as published (stabilityai/stable-diffusion-xl-base-1.0); no 10 GB build.
  EXPECT_EQ(unet_parameter_count(UNetConfig::sdxl()), 2'567'463'684);
}

TEST(ParameterCountsTest, ProfilesListEveryNetwork) {
  using Counts = std::vector<std::pair<std::string, std::int64_t>>;
  EXPECT_EQ(network_parameter_counts(profile_by_name("sd15")),
            (Counts{{"text_encoder", 123'060'480}, {"unet", 859'520'964}, {"vae", 83'653'863}}));
  // SDXL base: CLIP ViT-L text (123,060,480), OpenCLIP bigG text with projection
  // (694,659,840), UNet (2,567,463,684) and the SD VAE, as published.
  EXPECT_EQ(network_parameter_counts(profile_by_name("sdxl")),
            (Counts{{"text_encoder", 123'060'480},
                    {"text_encoder_2", 694'659'840},
                    {"unet", 2'567'463'684},
                    {"vae", 83'653'863}}));
}

// Small configurations that cover every branch: attention on/off per level, deeper
// transformers, linear projections, the text_time embedding, more resnets per level.
std::vector<UNetConfig> small_unets() {
  std::vector<UNetConfig> configs{UNetConfig::tiny()};
  UNetConfig xl_like;
  xl_like.block_out_channels = {32, 64, 96};
  xl_like.layers_per_block = 2;
  xl_like.down_block_has_attention = {false, true, true};
  xl_like.transformer_layers_per_block = {1, 2, 3};
  xl_like.attention_heads = {1, 2, 3};
  xl_like.cross_attention_dim = 24;
  xl_like.use_linear_projection = true;
  xl_like.addition_embed_type = "text_time";
  xl_like.addition_time_embed_dim = 8;
  xl_like.projection_class_embeddings_input_dim = 12 + 6 * 8;
  configs.push_back(xl_like);
  UNetConfig last_without_attention = UNetConfig::tiny();
  last_without_attention.block_out_channels = {32, 64, 64};
  last_without_attention.down_block_has_attention = {true, true, false};
  last_without_attention.transformer_layers_per_block = {1, 1, 1};
  last_without_attention.attention_heads = {2, 2, 2};
  configs.push_back(last_without_attention);
  return configs;
}

TEST(ParameterCountsTest, EqualTheBuiltModules) {
  torch::NoGradGuard no_grad;
  for (const auto& config : small_unets()) {
    EXPECT_EQ(unet_parameter_count(config), parameter_count(*UNet(config)));
  }
  auto vae = VaeConfig::tiny();
  EXPECT_EQ(vae_parameter_count(vae), parameter_count(*AutoencoderKL(vae)));
  vae.layers_per_block = 2;
  vae.block_out_channels = {32, 64};
  EXPECT_EQ(vae_parameter_count(vae), parameter_count(*AutoencoderKL(vae)));
  auto text = ClipTextConfig::tiny();
  EXPECT_EQ(clip_text_parameter_count(text), parameter_count(*ClipTextModel(text)));
}

TEST(ParameterCountsTest, InvalidConfigsAreInputErrors) {
  auto config = UNetConfig::tiny();
  config.attention_heads = {2};
  EXPECT_THROW(unet_parameter_count(config), core::InputError);
}

}  // namespace
}  // namespace dsbench::diffusion
