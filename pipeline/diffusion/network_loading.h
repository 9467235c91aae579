// Loading one network's weights from one safetensors file, by name: diffusers names
// (legacy VAE attention names query/key/value/proj_attn accepted) or the original
// single-file checkpoint names (original_checkpoint_keys.h; 1×1-conv attention weights
// are reshaped to linear). F32/F16/BF16/F64 are converted to f32. Tensors that belong to
// other networks are ignored; otherwise every parameter must be found with its shape and
// every mapped tensor must be a parameter, else an InputError names the file and lists
// the missing, unexpected and mis-shaped tensors.
#pragma once

#include <torch/torch.h>

#include <filesystem>

#include "pipeline/diffusion/unet.h"
#include "pipeline/diffusion/vae.h"

namespace dsbench::diffusion {

enum class WeightLayout { kDiffusers, kOriginal };

void load_unet_weights(UNetImpl& unet, const std::filesystem::path& file, WeightLayout layout);
void load_vae_weights(AutoencoderKLImpl& vae, const std::filesystem::path& file, WeightLayout layout);
// The CLIP text encoder: names as transformers' CLIPTextModel (text_model.*).
void load_text_encoder_weights(torch::nn::Module& text_encoder, const std::filesystem::path& file,
                               WeightLayout layout);

}  // namespace dsbench::diffusion
