#include "pipeline/diffusion/profiles.h"

#include <algorithm>

#include "core/errors.h"
#include "core/text.h"
#include "pipeline/diffusion/network_loading.h"
#include "pipeline/diffusion/parameter_counts.h"
#include "pipeline/diffusion/weights.h"

namespace dsbench::diffusion {

namespace fs = std::filesystem;

namespace {

constexpr const char* kSeededSource = "seeded random (tiny)";

Profile sd15_profile() {
  Profile profile;
  profile.name = "sd15";
  profile.unet = UNetConfig::sd15();
  profile.vae = VaeConfig::sd15();
  profile.text = ClipTextConfig::sd15();
  profile.default_size = 512;
  return profile;
}

Profile tiny_profile() {
  Profile profile;
  profile.name = "tiny";
  profile.unet = UNetConfig::tiny();
  profile.vae = VaeConfig::tiny();
  profile.text = ClipTextConfig::tiny();
  profile.unet.cross_attention_dim = static_cast<int>(profile.text.hidden_size);
  profile.default_size = 64;
  profile.seeded_random = true;
  profile.weight_seed = 20240712;
  return profile;
}

Profile sdxl_profile() {
  Profile profile;
  profile.name = "sdxl";
  profile.unet = UNetConfig::sdxl();
  profile.vae = VaeConfig::sd15();
  profile.vae.scaling_factor = 0.13025;
  profile.text = ClipTextConfig::sd15();
  ClipTextConfig big_g;
  big_g.hidden_size = 1280;
  big_g.layers = 32;
  big_g.heads = 20;
  big_g.intermediate_size = 5120;
  big_g.quick_gelu = false;
  profile.text_2 = big_g;
  profile.default_size = 1024;
  profile.can_generate = false;
  return profile;
}

void require_pipeline(const Profile& profile) {
  if (!profile.can_generate) {
    throw core::InputError(core::Location{"", 0, "model.profile"},
                           "a profile that can generate (" + core::join({"sd15", "tiny"}, ", ") + "); '" +
                               profile.name +
                               "' only describes its architecture (dsbench model info): its pipeline is not "
                               "implemented yet");
  }
}

// The first of `names` that exists in `folder`, or empty.
fs::path first_existing(const fs::path& folder, const std::vector<std::string>& names) {
  for (const auto& name : names) {
    if (fs::exists(folder / name)) return folder / name;
  }
  return {};
}

fs::path diffusers_file(const fs::path& root, const std::string& subfolder, const std::string& stem) {
  const auto folder = root / subfolder;
  const auto found = first_existing(folder, {stem + ".safetensors", stem + ".fp16.safetensors"});
  if (found.empty()) {
    throw core::InputError(core::Location{folder.string(), 0, ""},
                           "a diffusers weights file " + stem + ".safetensors (or " + stem +
                               ".fp16.safetensors); only safetensors are read");
  }
  return found;
}

}  // namespace

Profile profile_by_name(const std::string& name) {
  if (name == "sd15") return sd15_profile();
  if (name == "sdxl") return sdxl_profile();
  if (name == "tiny") return tiny_profile();
  const auto names = profile_names();
  throw core::InputError(core::Location{"", 0, "model.profile"},
                         "one of " + core::join(names, ", ") + ", got '" + name + "'" +
                             core::did_you_mean(name, names));
}

std::vector<std::string> profile_names() { return {"sd15", "sdxl", "tiny"}; }

std::vector<std::pair<std::string, std::int64_t>> network_parameter_counts(const Profile& profile) {
  std::vector<std::pair<std::string, std::int64_t>> counts{{"text_encoder", clip_text_parameter_count(profile.text)}};
  if (profile.text_2) {
    const std::int64_t projection = std::int64_t{profile.text_2->hidden_size} * profile.text_2->hidden_size;
    counts.emplace_back("text_encoder_2", clip_text_parameter_count(*profile.text_2) + projection);
  }
  counts.emplace_back("unet", unet_parameter_count(profile.unet));
  counts.emplace_back("vae", vae_parameter_count(profile.vae));
  return counts;
}

Models build_models(const Profile& profile) {
  require_pipeline(profile);
  torch::NoGradGuard no_grad;
  Models models;
  models.profile = profile;
  models.text_encoder = ClipTextModel(profile.text);
  models.unet = UNet(profile.unet);
  models.vae = AutoencoderKL(profile.vae);
  models.text_encoder_source = models.unet_source = models.vae_source = "constructor initialisation (random)";
  return models;
}

Models load_models(const Profile& profile, const fs::path& weights) {
  // Check the weights argument before building anything: sd15 takes seconds and GBs.
  require_pipeline(profile);
  if (profile.seeded_random && !weights.empty()) {
    throw core::InputError(core::Location{weights.string(), 0, "model.weights"},
                           "no weights for profile " + profile.name +
                               " (its weights are seeded random); remove model.weights");
  }
  if (!profile.seeded_random && weights.empty()) {
    throw core::InputError(core::Location{"", 0, "model.weights"},
                           "a diffusers folder or a single-file .safetensors checkpoint for profile " +
                               profile.name + " (published weights cannot be downloaded here)");
  }
  if (!profile.seeded_random && !fs::exists(weights)) {
    throw core::InputError(core::Location{weights.string(), 0, "model.weights"},
                           "an existing diffusers folder or .safetensors file");
  }
  auto models = build_models(profile);
  torch::NoGradGuard no_grad;
  if (profile.seeded_random) {
    // Distinct seeds per network, so that equal shapes do not get equal values.
    init_seeded(*models.text_encoder, profile.weight_seed);
    init_seeded(*models.unet, profile.weight_seed + 1);
    init_seeded(*models.vae, profile.weight_seed + 2);
    models.text_encoder_source = models.unet_source = models.vae_source = kSeededSource;
    return models;
  }
  if (fs::is_directory(weights)) {
    const auto unet_file = diffusers_file(weights, "unet", "diffusion_pytorch_model");
    const auto vae_file = diffusers_file(weights, "vae", "diffusion_pytorch_model");
    const auto text_file = diffusers_file(weights, "text_encoder", "model");
    load_unet_weights(*models.unet, unet_file, WeightLayout::kDiffusers);
    load_vae_weights(*models.vae, vae_file, WeightLayout::kDiffusers);
    load_text_encoder_weights(*models.text_encoder, text_file, WeightLayout::kDiffusers);
    models.unet_source = unet_file.string();
    models.vae_source = vae_file.string();
    models.text_encoder_source = text_file.string();
    return models;
  }
  load_unet_weights(*models.unet, weights, WeightLayout::kOriginal);
  load_vae_weights(*models.vae, weights, WeightLayout::kOriginal);
  load_text_encoder_weights(*models.text_encoder, weights, WeightLayout::kOriginal);
  models.unet_source = models.vae_source = models.text_encoder_source = weights.string() + " (single file)";
  return models;
}

}  // namespace dsbench::diffusion
