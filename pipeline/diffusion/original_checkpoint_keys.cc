#include "pipeline/diffusion/original_checkpoint_keys.h"

#include <utility>

namespace dsbench::diffusion {

namespace {

bool starts_with(const std::string& text, const std::string& prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}

// Replaces the first matching prefix of `rest` using `renames`; nullopt if none matches.
std::optional<std::string> rename_prefix(const std::string& rest,
                                         const std::vector<std::pair<std::string, std::string>>& renames) {
  for (const auto& [from, to] : renames) {
    if (starts_with(rest, from)) return to + rest.substr(from.size());
  }
  return std::nullopt;
}

// LDM ResBlock → diffusers ResnetBlock2D.
std::optional<std::string> unet_resnet(const std::string& rest) {
  return rename_prefix(rest, {{"in_layers.0.", "norm1."},
                              {"in_layers.2.", "conv1."},
                              {"emb_layers.1.", "time_emb_proj."},
                              {"out_layers.0.", "norm2."},
                              {"out_layers.3.", "conv2."},
                              {"skip_connection.", "conv_shortcut."}});
}

// LDM VAE ResnetBlock → diffusers ResnetBlock2D.
std::optional<std::string> vae_resnet(const std::string& rest) {
  return rename_prefix(rest, {{"norm1.", "norm1."},
                              {"conv1.", "conv1."},
                              {"norm2.", "norm2."},
                              {"conv2.", "conv2."},
                              {"nin_shortcut.", "conv_shortcut."}});
}

std::optional<std::string> vae_mid(const std::string& rest) {
  return rename_prefix(rest, {{"block_1.", "mid_block.resnets.0."},
                              {"block_2.", "mid_block.resnets.1."},
                              {"attn_1.norm.", "mid_block.attentions.0.group_norm."},
                              {"attn_1.q.", "mid_block.attentions.0.to_q."},
                              {"attn_1.k.", "mid_block.attentions.0.to_k."},
                              {"attn_1.v.", "mid_block.attentions.0.to_v."},
                              {"attn_1.proj_out.", "mid_block.attentions.0.to_out.0."}});
}

// "12.1.rest" → {12, 1, "rest"}; nullopt if the two leading fields are not numbers.
struct IndexedKey {
  int block = 0;
  int index = 0;
  std::string rest;
};

std::optional<int> parse_index(const std::string& text) {
  if (text.empty() || text.size() > 6) return std::nullopt;
  for (const char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  return std::stoi(text);
}

std::optional<IndexedKey> split_indices(const std::string& key) {
  const auto first = key.find('.');
  if (first == std::string::npos) return std::nullopt;
  const auto second = key.find('.', first + 1);
  if (second == std::string::npos) return std::nullopt;
  const auto block = parse_index(key.substr(0, first));
  const auto index = parse_index(key.substr(first + 1, second - first - 1));
  if (!block || !index) return std::nullopt;
  return IndexedKey{*block, *index, key.substr(second + 1)};
}

std::string join_key(const std::string& prefix, int a, const std::string& middle, int b,
                     const std::string& rest) {
  return prefix + std::to_string(a) + middle + std::to_string(b) + "." + rest;
}

}  // namespace

std::optional<std::string> original_unet_key(const std::string& full_key, const UNetKeyLayout& layout) {
  if (!starts_with(full_key, kOriginalUNetPrefix)) return std::nullopt;
  const std::string key = full_key.substr(std::string(kOriginalUNetPrefix).size());
  if (auto simple = rename_prefix(key, {{"time_embed.0.", "time_embedding.linear_1."},
                                        {"time_embed.2.", "time_embedding.linear_2."},
                                        {"label_emb.0.0.", "add_embedding.linear_1."},
                                        {"label_emb.0.2.", "add_embedding.linear_2."},
                                        {"input_blocks.0.0.", "conv_in."},
                                        {"out.0.", "conv_norm_out."},
                                        {"out.2.", "conv_out."},
                                        {"middle_block.1.", "mid_block.attentions.0."}})) {
    return simple;
  }
  const int per_level = layout.layers_per_block + 1;
  const int levels = static_cast<int>(layout.down_block_has_attention.size());
  if (starts_with(key, "middle_block.0.") || starts_with(key, "middle_block.2.")) {
    const auto resnet = unet_resnet(key.substr(std::string("middle_block.0.").size()));
    if (!resnet) return std::nullopt;
    return std::string("mid_block.resnets.") + (key[13] == '0' ? "0." : "1.") + *resnet;
  }
  if (starts_with(key, "input_blocks.")) {
    const auto parts = split_indices(key.substr(std::string("input_blocks.").size()));
    if (!parts || parts->block < 1) return std::nullopt;
    const int level = (parts->block - 1) / per_level;
    const int position = (parts->block - 1) % per_level;
    if (level >= levels) return std::nullopt;
    if (position == layout.layers_per_block) {  // the downsampler
      if (parts->index != 0 || !starts_with(parts->rest, "op.")) return std::nullopt;
      return "down_blocks." + std::to_string(level) + ".downsamplers.0.conv." + parts->rest.substr(3);
    }
    if (parts->index == 0) {
      const auto resnet = unet_resnet(parts->rest);
      if (!resnet) return std::nullopt;
      return join_key("down_blocks.", level, ".resnets.", position, *resnet);
    }
    if (parts->index == 1 && layout.down_block_has_attention[level]) {
      return join_key("down_blocks.", level, ".attentions.", position, parts->rest);
    }
    return std::nullopt;
  }
  if (starts_with(key, "output_blocks.")) {
    const auto parts = split_indices(key.substr(std::string("output_blocks.").size()));
    if (!parts) return std::nullopt;
    const int level = parts->block / per_level;
    const int position = parts->block % per_level;
    if (level >= levels) return std::nullopt;
    const bool has_attention = layout.down_block_has_attention[levels - 1 - level];
    if (parts->index == 0) {
      const auto resnet = unet_resnet(parts->rest);
      if (!resnet) return std::nullopt;
      return join_key("up_blocks.", level, ".resnets.", position, *resnet);
    }
    if (parts->index == 1 && has_attention) {
      return join_key("up_blocks.", level, ".attentions.", position, parts->rest);
    }
    // The upsampler follows the resnet (and the transformer, if any) of the level's last entry.
    if (parts->index == (has_attention ? 2 : 1) && position == layout.layers_per_block &&
        starts_with(parts->rest, "conv.")) {
      return "up_blocks." + std::to_string(level) + ".upsamplers.0." + parts->rest;
    }
    return std::nullopt;
  }
  return std::nullopt;
}

std::optional<std::string> original_vae_key(const std::string& full_key, int levels) {
  if (!starts_with(full_key, kOriginalVaePrefix)) return std::nullopt;
  const std::string key = full_key.substr(std::string(kOriginalVaePrefix).size());
  if (starts_with(key, "quant_conv.") || starts_with(key, "post_quant_conv.")) return key;
  for (const std::string part : {"encoder.", "decoder."}) {
    if (!starts_with(key, part)) continue;
    const std::string rest = key.substr(part.size());
    if (auto simple = rename_prefix(rest, {{"conv_in.", "conv_in."},
                                           {"conv_out.", "conv_out."},
                                           {"norm_out.", "conv_norm_out."}})) {
      return part + *simple;
    }
    if (starts_with(rest, "mid.")) {
      const auto mid = vae_mid(rest.substr(4));
      if (!mid) return std::nullopt;
      return part + *mid;
    }
    const bool encoder = part == "encoder.";
    const std::string blocks = encoder ? "down." : "up.";
    if (!starts_with(rest, blocks)) return std::nullopt;
    // "down.I.block.J.rest" or "down.I.downsample.conv.rest".
    const auto dot = rest.find('.', blocks.size());
    if (dot == std::string::npos) return std::nullopt;
    const auto level = parse_index(rest.substr(blocks.size(), dot - blocks.size()));
    if (!level || *level >= levels) return std::nullopt;
    const int ours = encoder ? *level : levels - 1 - *level;
    const std::string our_blocks = encoder ? "down_blocks." : "up_blocks.";
    const std::string tail = rest.substr(dot + 1);
    const std::string resampler = encoder ? "downsample.conv." : "upsample.conv.";
    if (starts_with(tail, resampler)) {
      return part + our_blocks + std::to_string(ours) + (encoder ? ".downsamplers.0.conv." : ".upsamplers.0.conv.") +
             tail.substr(resampler.size());
    }
    if (!starts_with(tail, "block.")) return std::nullopt;
    const auto resnet_dot = tail.find('.', 6);
    if (resnet_dot == std::string::npos) return std::nullopt;
    const auto resnet_index = parse_index(tail.substr(6, resnet_dot - 6));
    const auto resnet = vae_resnet(tail.substr(resnet_dot + 1));
    if (!resnet_index || !resnet) return std::nullopt;
    return part + our_blocks + std::to_string(ours) + ".resnets." + std::to_string(*resnet_index) + "." + *resnet;
  }
  return std::nullopt;
}

std::optional<std::string> original_text_encoder_key(const std::string& full_key) {
  if (!starts_with(full_key, kOriginalTextPrefix)) return std::nullopt;
  const std::string key = full_key.substr(std::string(kOriginalTextPrefix).size());
  if (key.size() >= 12 && key.compare(key.size() - 12, 12, "position_ids") == 0) return std::nullopt;
  // Checkpoints saved with old transformers versions lack the "text_model." level.
  return starts_with(key, "text_model.") ? key : "text_model." + key;
}

std::string modern_vae_key(const std::string& key) {
  static const std::vector<std::pair<std::string, std::string>> kLegacy = {
      {".attentions.0.query.", ".attentions.0.to_q."},
      {".attentions.0.key.", ".attentions.0.to_k."},
      {".attentions.0.value.", ".attentions.0.to_v."},
      {".attentions.0.proj_attn.", ".attentions.0.to_out.0."}};
  for (const auto& [from, to] : kLegacy) {
    const auto at = key.find(from);
    if (at != std::string::npos) return key.substr(0, at) + to + key.substr(at + from.size());
  }
  return key;
}

}  // namespace dsbench::diffusion
