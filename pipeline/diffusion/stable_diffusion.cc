#include "pipeline/diffusion/stable_diffusion.h"

#include <cstring>

#include "core/errors.h"
#include "pipeline/diffusion/clip_tokenizer.h"
#include "pipeline/diffusion/ddim_scheduler.h"
#include "pipeline/diffusion/weights.h"

namespace dsbench::diffusion {

StableDiffusion::StableDiffusion(Models models, int threads) : models_(std::move(models)) {
  if (threads < 1) {
    throw core::InputError(core::Location{"", 0, "model.threads"}, "a positive thread count, got " +
                                                                       std::to_string(threads));
  }
  torch::set_num_threads(threads);
  models_.text_encoder->eval();
  models_.unet->eval();
  models_.vae->eval();
}

void StableDiffusion::check_size(const SamplingOptions& options) const {
  // The latent must survive every UNet downsampling: multiples of VAE × UNet factors.
  const int multiple = latent_scale() * models_.profile.unet.downsampling_factor();
  const auto check = [&](int value, const char* field) {
    if (value <= 0 || value % multiple != 0) {
      throw core::InputError(core::Location{"", 0, std::string("sampler.") + field},
                             "a positive multiple of " + std::to_string(multiple) + " for profile " +
                                 models_.profile.name + ", got " + std::to_string(value));
    }
  };
  check(options.width, "width");
  check(options.height, "height");
  if (options.steps < 1) {
    throw core::InputError(core::Location{"", 0, "sampler.steps"},
                           "at least 1 step, got " + std::to_string(options.steps));
  }
}

torch::Tensor StableDiffusion::encode_prompts(const std::vector<std::string>& prompts) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> rows;
  rows.reserve(prompts.size());
  for (const auto& prompt : prompts) {
    const auto ids = ClipTokenizer::instance().encode_padded(prompt);
    std::vector<std::int64_t> ids64(ids.begin(), ids.end());
    rows.push_back(torch::tensor(ids64, torch::kInt64));
  }
  return models_.text_encoder->forward(torch::stack(rows));
}

torch::Tensor StableDiffusion::initial_noise(std::uint64_t seed, int width, int height) const {
  const std::int64_t scale = latent_scale();
  return seeded_normal({1, models_.profile.unet.in_channels, height / scale, width / scale}, seed);
}

torch::Tensor StableDiffusion::denoise(torch::Tensor latents, const torch::Tensor& cond,
                                       const torch::Tensor& uncond, const SamplingOptions& options,
                                       std::vector<attention::BatchRow> rows, const StepCallback& on_step) {
  torch::NoGradGuard no_grad;
  const bool guided = options.guidance != 1.0;
  const auto context = guided ? torch::cat({uncond, cond}) : cond;
  if (!guided) {
    // Only the conditional half runs; keep its rows.
    std::vector<attention::BatchRow> conditional;
    for (const auto& row : rows) {
      if (row.conditional) conditional.push_back(row);
    }
    rows = std::move(conditional);
  }
  DdimScheduler scheduler{DdimConfig{}};
  scheduler.set_timesteps(options.steps);
  const auto timesteps = scheduler.timesteps();
  attention::StepInfo step;
  step.num_steps = static_cast<int>(timesteps.size());
  step.rows = std::move(rows);
  for (std::size_t i = 0; i < timesteps.size(); ++i) {
    step.step = static_cast<int>(i);
    step.timestep = timesteps[i];
    if (on_step) on_step(step);
    const auto input = guided ? torch::cat({latents, latents}) : latents;
    const auto t = torch::tensor(step.timestep, torch::kInt64);
    const auto eps = models_.unet(input, t, context, step);
    torch::Tensor guided_eps = eps;
    if (guided) {
      const auto halves = eps.chunk(2);
      guided_eps = halves[0] + options.guidance * (halves[1] - halves[0]);
    }
    latents = scheduler.step(guided_eps, step.timestep, latents);
  }
  return latents;
}

torch::Tensor StableDiffusion::invert(torch::Tensor latents, const torch::Tensor& cond, int steps,
                                      std::vector<attention::BatchRow> rows, const StepCallback& on_step) {
  torch::NoGradGuard no_grad;
  DdimScheduler scheduler{DdimConfig{}};
  scheduler.set_timesteps(steps);
  const auto& timesteps = scheduler.timesteps();
  attention::StepInfo step;
  step.num_steps = static_cast<int>(timesteps.size());
  step.rows = std::move(rows);
  for (std::size_t i = 0; i < timesteps.size(); ++i) {
    const auto t = timesteps[timesteps.size() - 1 - i];  // ascending
    step.step = static_cast<int>(i);
    step.timestep = t;
    if (on_step) on_step(step);
    const auto eps = models_.unet(latents, torch::tensor(t, torch::kInt64), cond, step);
    latents = scheduler.inversion_step(eps, t, latents);
  }
  return latents;
}

std::vector<core::Image> StableDiffusion::generate(const std::vector<ImageRequest>& requests,
                                                   const SamplingOptions& options, const StepCallback& on_step) {
  check_size(options);
  if (requests.empty()) return {};
  torch::NoGradGuard no_grad;
  std::vector<std::string> prompts;
  std::vector<torch::Tensor> noises;
  for (const auto& request : requests) {
    prompts.push_back(request.prompt);
    noises.push_back(initial_noise(request.seed, options.width, options.height));
  }
  const auto cond = encode_prompts(prompts);
  const auto uncond = encode_prompts({options.negative_prompt}).expand_as(cond).contiguous();
  const auto latents = denoise(torch::cat(noises), cond, uncond, options, cfg_rows(requests), on_step);
  return decode(latents);
}

std::vector<core::Image> StableDiffusion::decode(const torch::Tensor& latents) {
  torch::NoGradGuard no_grad;
  return tensor_to_images(models_.vae->decode(latents / models_.profile.vae.scaling_factor));
}

torch::Tensor StableDiffusion::encode(const core::Image& image) {
  torch::NoGradGuard no_grad;
  // The distribution's mean, not a sample: inversion should be deterministic.
  return models_.vae->encode(image_to_tensor(image)).mean * models_.profile.vae.scaling_factor;
}

std::vector<attention::BatchRow> cfg_rows(const std::vector<ImageRequest>& requests) {
  std::vector<attention::BatchRow> rows;
  for (const bool conditional : {false, true}) {
    for (std::size_t i = 0; i < requests.size(); ++i) {
      rows.push_back({requests[i].role, requests[i].subject, conditional, static_cast<int>(i)});
    }
  }
  return rows;
}

std::vector<core::Image> tensor_to_images(const torch::Tensor& images) {
  const auto pixels = (images.detach().to(torch::kFloat32) / 2 + 0.5)
                          .clamp(0, 1)
                          .mul(255)
                          .round()
                          .to(torch::kUInt8)
                          .permute({0, 2, 3, 1})
                          .contiguous();
  std::vector<core::Image> out;
  for (std::int64_t b = 0; b < pixels.size(0); ++b) {
    core::Image image(static_cast<int>(pixels.size(2)), static_cast<int>(pixels.size(1)), 3);
    const auto row = pixels[b];
    std::memcpy(image.pixels.data(), row.data_ptr<std::uint8_t>(), image.pixels.size());
    out.push_back(std::move(image));
  }
  return out;
}

torch::Tensor image_to_tensor(const core::Image& image) {
  if (image.channels != 3 || image.empty()) {
    throw core::InputError("expected an RGB image to encode, got " + std::to_string(image.channels) +
                           " channel(s), " + std::to_string(image.width) + "x" + std::to_string(image.height));
  }
  const auto bytes = torch::from_blob(const_cast<std::uint8_t*>(image.pixels.data()),
                                      {1, image.height, image.width, 3}, torch::kUInt8);
  return bytes.permute({0, 3, 1, 2}).to(torch::kFloat32).div(255).mul(2).sub(1).contiguous();
}

}  // namespace dsbench::diffusion
