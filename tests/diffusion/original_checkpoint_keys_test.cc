#include "pipeline/diffusion/original_checkpoint_keys.h"

#include <gtest/gtest.h>

#include <utility>
#include <vector>

namespace dsbench::diffusion {
namespace {

// Names as they appear in the published v1-5-pruned checkpoint and in diffusers' folders.
TEST(OriginalCheckpointKeysTest, Sd15UNetKeysMapToDiffusersNames) {
  const UNetKeyLayout layout;  // SD1.5
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"input_blocks.0.0.weight", "conv_in.weight"},
      {"time_embed.0.weight", "time_embedding.linear_1.weight"},
      {"time_embed.2.bias", "time_embedding.linear_2.bias"},
      {"input_blocks.1.0.in_layers.0.weight", "down_blocks.0.resnets.0.norm1.weight"},
      {"input_blocks.1.0.in_layers.2.bias", "down_blocks.0.resnets.0.conv1.bias"},
      {"input_blocks.2.1.transformer_blocks.0.attn1.to_q.weight",
       "down_blocks.0.attentions.1.transformer_blocks.0.attn1.to_q.weight"},
      {"input_blocks.2.1.transformer_blocks.0.ff.net.0.proj.weight",
       "down_blocks.0.attentions.1.transformer_blocks.0.ff.net.0.proj.weight"},
      {"input_blocks.3.0.op.weight", "down_blocks.0.downsamplers.0.conv.weight"},
      {"input_blocks.4.0.skip_connection.weight", "down_blocks.1.resnets.0.conv_shortcut.weight"},
      {"input_blocks.10.0.emb_layers.1.bias", "down_blocks.3.resnets.0.time_emb_proj.bias"},
      {"input_blocks.11.0.out_layers.3.weight", "down_blocks.3.resnets.1.conv2.weight"},
      {"middle_block.0.out_layers.0.bias", "mid_block.resnets.0.norm2.bias"},
      {"middle_block.1.proj_in.weight", "mid_block.attentions.0.proj_in.weight"},
      {"middle_block.2.in_layers.2.weight", "mid_block.resnets.1.conv1.weight"},
      {"output_blocks.0.0.in_layers.0.weight", "up_blocks.0.resnets.0.norm1.weight"},
      {"output_blocks.2.1.conv.weight", "up_blocks.0.upsamplers.0.conv.weight"},
      {"output_blocks.3.0.skip_connection.bias", "up_blocks.1.resnets.0.conv_shortcut.bias"},
      {"output_blocks.5.1.norm.weight", "up_blocks.1.attentions.2.norm.weight"},
      {"output_blocks.5.2.conv.bias", "up_blocks.1.upsamplers.0.conv.bias"},
      {"output_blocks.11.1.proj_out.bias", "up_blocks.3.attentions.2.proj_out.bias"},
      {"out.0.weight", "conv_norm_out.weight"},
      {"out.2.bias", "conv_out.bias"},
  };
  for (const auto& [original, diffusers] : cases) {
    const auto mapped = original_unet_key(kOriginalUNetPrefix + original, layout);
    ASSERT_TRUE(mapped.has_value()) << original;
    EXPECT_EQ(*mapped, diffusers) << original;
  }
}

TEST(OriginalCheckpointKeysTest, UNetRejectsOtherNetworksAndUnknownPositions) {
  const UNetKeyLayout layout;
  EXPECT_FALSE(original_unet_key("first_stage_model.encoder.conv_in.weight", layout));
  EXPECT_FALSE(original_unet_key("model_ema.decay", layout));
  EXPECT_FALSE(original_unet_key("model.diffusion_model.input_blocks.13.0.in_layers.0.weight", layout));
  // Level 3 of SD1.5 has no attention: a transformer there is not ours.
  EXPECT_FALSE(original_unet_key("model.diffusion_model.input_blocks.10.1.norm.weight", layout));
  EXPECT_FALSE(original_unet_key("model.diffusion_model.output_blocks.1.1.norm.weight", layout));
}

TEST(OriginalCheckpointKeysTest, SdxlLayoutMapsLabelEmbeddingAndUpsamplers) {
  const UNetKeyLayout layout{2, {false, true, true}};
  EXPECT_EQ(original_unet_key("model.diffusion_model.label_emb.0.0.weight", layout),
            "add_embedding.linear_1.weight");
  EXPECT_EQ(original_unet_key("model.diffusion_model.output_blocks.2.2.conv.weight", layout),
            "up_blocks.0.upsamplers.0.conv.weight");
  EXPECT_EQ(original_unet_key("model.diffusion_model.output_blocks.8.0.in_layers.0.weight", layout),
            "up_blocks.2.resnets.2.norm1.weight");
  EXPECT_FALSE(original_unet_key("model.diffusion_model.output_blocks.8.1.norm.weight", layout));
}

TEST(OriginalCheckpointKeysTest, Sd15VaeKeysMapToDiffusersNames) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"encoder.conv_in.weight", "encoder.conv_in.weight"},
      {"encoder.down.0.block.1.norm2.weight", "encoder.down_blocks.0.resnets.1.norm2.weight"},
      {"encoder.down.1.block.0.nin_shortcut.weight", "encoder.down_blocks.1.resnets.0.conv_shortcut.weight"},
      {"encoder.down.1.downsample.conv.weight", "encoder.down_blocks.1.downsamplers.0.conv.weight"},
      {"encoder.mid.block_1.conv1.bias", "encoder.mid_block.resnets.0.conv1.bias"},
      {"encoder.mid.attn_1.norm.weight", "encoder.mid_block.attentions.0.group_norm.weight"},
      {"encoder.mid.attn_1.q.weight", "encoder.mid_block.attentions.0.to_q.weight"},
      {"encoder.mid.attn_1.proj_out.bias", "encoder.mid_block.attentions.0.to_out.0.bias"},
      {"encoder.norm_out.weight", "encoder.conv_norm_out.weight"},
      {"quant_conv.weight", "quant_conv.weight"},
      {"post_quant_conv.bias", "post_quant_conv.bias"},
      {"decoder.mid.block_2.norm1.bias", "decoder.mid_block.resnets.1.norm1.bias"},
      {"decoder.up.3.block.0.conv1.weight", "decoder.up_blocks.0.resnets.0.conv1.weight"},
      {"decoder.up.0.block.0.nin_shortcut.bias", "decoder.up_blocks.3.resnets.0.conv_shortcut.bias"},
      {"decoder.up.2.upsample.conv.weight", "decoder.up_blocks.1.upsamplers.0.conv.weight"},
      {"decoder.conv_out.bias", "decoder.conv_out.bias"},
  };
  for (const auto& [original, diffusers] : cases) {
    const auto mapped = original_vae_key(kOriginalVaePrefix + original, 4);
    ASSERT_TRUE(mapped.has_value()) << original;
    EXPECT_EQ(*mapped, diffusers) << original;
  }
  EXPECT_FALSE(original_vae_key("first_stage_model.decoder.up.4.block.0.conv1.weight", 4));
  EXPECT_FALSE(original_vae_key("first_stage_model.loss.logvar", 4));
  EXPECT_FALSE(original_vae_key("model.diffusion_model.out.0.weight", 4));
}

TEST(OriginalCheckpointKeysTest, TextEncoderAndLegacyVaeNames) {
  EXPECT_EQ(original_text_encoder_key("cond_stage_model.transformer.text_model.final_layer_norm.weight"),
            "text_model.final_layer_norm.weight");
  EXPECT_EQ(original_text_encoder_key("cond_stage_model.transformer.embeddings.token_embedding.weight"),
            "text_model.embeddings.token_embedding.weight");
  EXPECT_FALSE(original_text_encoder_key("cond_stage_model.transformer.text_model.embeddings.position_ids"));
  EXPECT_EQ(modern_vae_key("decoder.mid_block.attentions.0.query.weight"), "decoder.mid_block.attentions.0.to_q.weight");
  EXPECT_EQ(modern_vae_key("encoder.mid_block.attentions.0.proj_attn.bias"),
            "encoder.mid_block.attentions.0.to_out.0.bias");
  EXPECT_EQ(modern_vae_key("encoder.mid_block.attentions.0.group_norm.bias"),
            "encoder.mid_block.attentions.0.group_norm.bias");
}

}  // namespace
}  // namespace dsbench::diffusion
