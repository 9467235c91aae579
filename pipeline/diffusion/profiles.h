// Model profiles: which architecture each network has and where its weights come from.
//   sd15 — Stable Diffusion 1.5 at full size; weights from a diffusers folder (unet/,
//          vae/, text_encoder/, fp16 variants accepted) or an original single-file
//          checkpoint (model.diffusion_model.*, first_stage_model.*, cond_stage_model.*).
//   sdxl — described only: the SDXL base architecture (UNet, two text encoders, VAE) with
//          its parameter counts; no SDXL pipeline exists yet, so it cannot be loaded.
//   tiny — the same code paths with small widths and depths and seeded random weights,
//          64×64 images. It produces noise-like images: it exists to exercise the harness.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "pipeline/diffusion/clip_text_model.h"
#include "pipeline/diffusion/network_loading.h"
#include "pipeline/diffusion/unet.h"
#include "pipeline/diffusion/vae.h"

namespace dsbench::diffusion {

struct Profile {
  std::string name;
  UNetConfig unet;
  VaeConfig vae;
  ClipTextConfig text;
  int default_size = 512;         // image width and height the profile is made for
  bool seeded_random = false;     // weights from init_seeded instead of files
  std::uint64_t weight_seed = 0;  // for seeded_random profiles
  // SDXL's second text encoder (OpenCLIP ViT-bigG/14, plus a bias-free hidden×hidden text
  // projection); counted, never built yet.
  std::optional<ClipTextConfig> text_2;
  // false: the networks are described (model info, parameter counts) but there is no
  // pipeline for them; load_models and build_models reject the profile (InputError).
  bool can_generate = true;
};

// Each network's parameter count from the profile's shapes (nothing is allocated):
// text_encoder, [text_encoder_2,] unet, vae.
std::vector<std::pair<std::string, std::int64_t>> network_parameter_counts(const Profile& profile);

Profile profile_by_name(const std::string& name);  // InputError with a did-you-mean
std::vector<std::string> profile_names();

// The three networks of a profile with their weights in place, and where those came from.
struct Models {
  Profile profile;
  ClipTextModel text_encoder{nullptr};
  UNet unet{nullptr};
  AutoencoderKL vae{nullptr};
  std::string text_encoder_source;
  std::string unet_source;
  std::string vae_source;
};

// Builds the profile's networks and loads their weights. `weights` is a diffusers folder
// or a single .safetensors checkpoint; seeded-random profiles ignore an empty path and
// reject a non-empty one. InputError (naming the file and the keys) for missing files,
// missing/unexpected/mis-shaped tensors.
Models load_models(const Profile& profile, const std::filesystem::path& weights);

// The networks built but with their constructors' initial weights (benchmarks, parameter
// counts): nothing is read.
Models build_models(const Profile& profile);

}  // namespace dsbench::diffusion
