// Tensor names of the original single-file Stable Diffusion checkpoints (CompVis/LDM
// layout: model.diffusion_model.*, first_stage_model.*, cond_stage_model.transformer.*)
// translated to diffusers' names, which are our modules' parameter names. Also the
// legacy diffusers VAE attention names (query/key/value/proj_attn).
//
// Each function returns the diffusers name, or nullopt when the key belongs to another
// network (or is a buffer we do not load, such as position_ids).
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace dsbench::diffusion {

// What the UNet mapping needs to know about the architecture.
struct UNetKeyLayout {
  int layers_per_block = 2;
  std::vector<bool> down_block_has_attention{true, true, true, false};
};

inline constexpr const char* kOriginalUNetPrefix = "model.diffusion_model.";
inline constexpr const char* kOriginalVaePrefix = "first_stage_model.";
inline constexpr const char* kOriginalTextPrefix = "cond_stage_model.transformer.";

std::optional<std::string> original_unet_key(const std::string& key, const UNetKeyLayout& layout);
// `levels`: number of VAE resolution levels (4 for SD); the original numbers the decoder's
// up blocks from the lowest resolution's opposite end.
std::optional<std::string> original_vae_key(const std::string& key, int levels);
std::optional<std::string> original_text_encoder_key(const std::string& key);

// Older diffusers VAE files name the mid-block attention query/key/value/proj_attn.
std::string modern_vae_key(const std::string& key);

}  // namespace dsbench::diffusion
