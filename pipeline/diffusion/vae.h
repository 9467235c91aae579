// Stable Diffusion's VAE (diffusers' AutoencoderKL): encoder (images → latent
// distribution, needed to invert reference images) and decoder (latents → images).
// Parameter names equal diffusers' state_dict keys: encoder.*, decoder.*, quant_conv,
// post_quant_conv; the mid-block attention uses the current names (group_norm, to_q,
// to_k, to_v, to_out.0). Its attention is plain single-head attention, not routed
// through the UNet's attention processors.
#pragma once

#include <torch/torch.h>

#include <vector>

#include "pipeline/diffusion/unet_blocks.h"

namespace dsbench::diffusion {

struct VaeConfig {
  int in_channels = 3;
  int out_channels = 3;
  std::vector<int> block_out_channels{128, 256, 512, 512};
  int layers_per_block = 2;
  int latent_channels = 4;
  int norm_num_groups = 32;
  double norm_eps = 1e-6;
  double scaling_factor = 0.18215;

  static VaeConfig sd15();
  static VaeConfig tiny();  // 32/64/64 channels, 1 resnet per level: 4× downsampling

  int levels() const { return static_cast<int>(block_out_channels.size()); }
  int downsampling_factor() const { return 1 << (levels() - 1); }
  void validate() const;
};

// Mean and log-variance of the latent distribution, each [B, latent_channels, h, w].
struct LatentDistribution {
  torch::Tensor mean;
  torch::Tensor logvar;
};

class AutoencoderKLImpl : public torch::nn::Module {
 public:
  explicit AutoencoderKLImpl(const VaeConfig& config);

  // images in [-1, 1], [B, 3, H, W] → unscaled latent distribution (after quant_conv).
  LatentDistribution encode(const torch::Tensor& images);
  // unscaled latents [B, 4, h, w] → images, nominally in [-1, 1].
  torch::Tensor decode(const torch::Tensor& latents);
  const VaeConfig& config() const { return config_; }

 private:
  class Encoder;
  class Decoder;
  VaeConfig config_;
  std::shared_ptr<Encoder> encoder_;
  std::shared_ptr<Decoder> decoder_;
  torch::nn::Conv2d quant_conv_{nullptr}, post_quant_conv_{nullptr};
};
TORCH_MODULE(AutoencoderKL);

}  // namespace dsbench::diffusion
