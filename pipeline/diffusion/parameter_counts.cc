#include "pipeline/diffusion/parameter_counts.h"

#include <algorithm>

namespace dsbench::diffusion {

namespace {

using Count = std::int64_t;

Count linear(Count in, Count out, bool bias = true) { return in * out + (bias ? out : 0); }
Count conv(Count in, Count out, Count kernel) { return in * out * kernel * kernel + out; }
Count norm(Count channels) { return 2 * channels; }

Count resnet(Count in, Count out, Count temb) {
  return norm(in) + conv(in, out, 3) + (temb > 0 ? linear(temb, out) : 0) + norm(out) + conv(out, out, 3) +
         (in == out ? 0 : conv(in, out, 1));
}

// Attention projections: q/k/v without bias, out with bias; inner width = channels.
Count attention(Count channels, Count source) {
  return linear(channels, channels, false) + 2 * linear(source, channels, false) + linear(channels, channels);
}

// Transformer2DModel: GroupNorm, proj_in/out (1×1 conv or linear: same count), `depth`
// BasicTransformerBlocks (self-attention, cross-attention, GEGLU feed-forward, 3 LayerNorms).
Count transformer(Count channels, Count depth, Count context) {
  const Count block = attention(channels, channels) + attention(channels, context) +
                      linear(channels, 8 * channels) + linear(4 * channels, channels) + 3 * norm(channels);
  return norm(channels) + 2 * linear(channels, channels) + depth * block;
}

}  // namespace

Count unet_parameter_count(const UNetConfig& config) {
  config.validate();
  const auto& ch = config.block_out_channels;
  const int n = config.levels();
  const Count temb = config.time_embed_dim();
  const Count context = config.cross_attention_dim;
  Count total = conv(config.in_channels, ch[0], 3) + linear(ch[0], temb) + linear(temb, temb);
  if (config.addition_embed_type == "text_time") {
    total += linear(config.projection_class_embeddings_input_dim, temb) + linear(temb, temb);
  }
  for (int level = 0; level < n; ++level) {
    const Count out = ch[level];
    for (int j = 0; j < config.layers_per_block; ++j) {
      total += resnet(j == 0 ? (level == 0 ? ch[0] : ch[level - 1]) : out, out, temb);
      if (config.down_block_has_attention[level]) {
        total += transformer(out, config.transformer_layers_per_block[level], context);
      }
    }
    if (level + 1 < n) total += conv(out, out, 3);
  }
  const Count deepest = ch.back();
  total += 2 * resnet(deepest, deepest, temb) +
           transformer(deepest, config.transformer_layers_per_block.back(), context);
  for (int level = 0; level < n; ++level) {
    const int mirror = n - 1 - level;
    const Count out = ch[mirror];
    const Count previous = level == 0 ? ch[n - 1] : ch[mirror + 1];
    const Count skip_in = ch[std::max(mirror - 1, 0)];
    const int count = config.layers_per_block + 1;
    for (int j = 0; j < count; ++j) {
      total += resnet((j == 0 ? previous : out) + (j == count - 1 ? skip_in : out), out, temb);
      if (config.down_block_has_attention[mirror]) {
        total += transformer(out, config.transformer_layers_per_block[mirror], context);
      }
    }
    if (level + 1 < n) total += conv(out, out, 3);
  }
  return total + norm(ch[0]) + conv(ch[0], config.out_channels, 3);
}

Count vae_parameter_count(const VaeConfig& config) {
  config.validate();
  const auto& ch = config.block_out_channels;
  const int n = config.levels();
  const Count latent = config.latent_channels;
  const Count deepest = ch.back();
  // The mid block (two resnets and single-head attention with biased q/k/v/out), shared
  // by encoder and decoder; resnets have no time embedding.
  const Count mid = 2 * (resnet(deepest, deepest, 0)) + norm(deepest) + 4 * linear(deepest, deepest);
  Count encoder = conv(config.in_channels, ch[0], 3) + mid + norm(deepest) + conv(deepest, 2 * latent, 3);
  for (int level = 0; level < n; ++level) {
    for (int j = 0; j < config.layers_per_block; ++j) {
      encoder += resnet(j == 0 ? (level == 0 ? ch[0] : ch[level - 1]) : ch[level], ch[level], 0);
    }
    if (level + 1 < n) encoder += conv(ch[level], ch[level], 3);
  }
  Count decoder = conv(latent, deepest, 3) + mid + norm(ch[0]) + conv(ch[0], config.out_channels, 3);
  for (int level = 0; level < n; ++level) {
    const Count out = ch[n - 1 - level];
    const Count previous = level == 0 ? deepest : ch[n - level];
    for (int j = 0; j < config.layers_per_block + 1; ++j) decoder += resnet(j == 0 ? previous : out, out, 0);
    if (level + 1 < n) decoder += conv(out, out, 3);
  }
  return encoder + decoder + conv(2 * latent, 2 * latent, 1) + conv(latent, latent, 1);
}

Count clip_text_parameter_count(const ClipTextConfig& config) {
  const Count width = config.hidden_size;
  const Count layer = 4 * linear(width, width) + linear(width, config.intermediate_size) +
                      linear(config.intermediate_size, width) + 2 * norm(width);
  return (config.vocab_size + config.max_positions) * width + config.layers * layer + norm(width);
}

}  // namespace dsbench::diffusion
