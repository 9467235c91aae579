// The Stable Diffusion sampling pipeline: prompts → CLIP embeddings (conditional and the
// unconditional "" prompt), seeded latent noise, a DDIM loop with classifier-free guidance
// (one UNet batch holds the unconditional rows, then the conditional rows), VAE decode to
// RGB images; and VAE encode of images to latents (for inversion of reference images).
// Deterministic: the noise comes from each image's seed, never from the global RNG.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/image.h"
#include "pipeline/attention/processor.h"
#include "pipeline/diffusion/profiles.h"

namespace dsbench::diffusion {

struct SamplingOptions {
  int steps = 50;
  double guidance = 7.5;  // classifier-free guidance scale; 1 = conditional only
  int width = 512;
  int height = 512;
  std::string negative_prompt;  // the unconditional prompt ("" as in SD)
};

// One image to draw: its prompt, its seed and the role its rows play for processors.
struct ImageRequest {
  std::string prompt;
  std::uint64_t seed = 0;
  attention::RowRole role = attention::RowRole::kScene;
  int subject = -1;
};

// Called before every UNet call of the loop (processors can be switched per step).
using StepCallback = std::function<void(const attention::StepInfo&)>;

class StableDiffusion {
 public:
  // Sets torch's intra-op thread count to `threads` (> 0).
  StableDiffusion(Models models, int threads);

  // Draws all requests in one batch (2 × requests.size() UNet rows with CFG).
  std::vector<core::Image> generate(const std::vector<ImageRequest>& requests,
                                    const SamplingOptions& options, const StepCallback& on_step = {});

  // The building blocks of generate(), for systems that need more control.
  torch::Tensor encode_prompts(const std::vector<std::string>& prompts);  // [B, 77, D]
  torch::Tensor initial_noise(std::uint64_t seed, int width, int height) const;  // [1, C, h, w]
  // DDIM from `latents` (already scaled like the sampler's noise) to x_0 latents.
  // cond/uncond: [B, 77, D]; rows: one per UNet row (2B), see attention::StepInfo.
  torch::Tensor denoise(torch::Tensor latents, const torch::Tensor& cond, const torch::Tensor& uncond,
                        const SamplingOptions& options, std::vector<attention::BatchRow> rows,
                        const StepCallback& on_step = {});
  // DDIM inversion: clean scaled latents → the noise that denoise() maps back to them,
  // conditional only (no guidance), walking the timesteps upwards.
  torch::Tensor invert(torch::Tensor latents, const torch::Tensor& cond, int steps,
                       std::vector<attention::BatchRow> rows = {}, const StepCallback& on_step = {});
  std::vector<core::Image> decode(const torch::Tensor& latents);  // scaled latents → RGB
  torch::Tensor encode(const core::Image& image);                 // RGB → scaled latents (mean)

  UNet& unet() { return models_.unet; }
  const Models& models() const { return models_; }
  int latent_scale() const { return models_.profile.vae.downsampling_factor(); }

 private:
  void check_size(const SamplingOptions& options) const;
  Models models_;
};

// Rows of a CFG batch for `requests`: first every unconditional row, then every conditional.
std::vector<attention::BatchRow> cfg_rows(const std::vector<ImageRequest>& requests);

// [B, 3, H, W] in [-1, 1] → RGB uint8 images, as diffusers rounds them.
std::vector<core::Image> tensor_to_images(const torch::Tensor& images);
torch::Tensor image_to_tensor(const core::Image& image);  // RGB uint8 → [1, 3, H, W] in [-1, 1]

}  // namespace dsbench::diffusion
