#include "metrics/dreamsim.h"

#include <algorithm>
#include <cmath>

#include "core/errors.h"
#include "core/safetensors.h"
#include "metrics/resize.h"
#include "pipeline/diffusion/weights.h"

namespace dsbench::metrics {
namespace {

using torch::indexing::Slice;

VitConfig clip_config(int patch) {
  VitConfig config;
  config.patch = patch;
  config.eps = 1e-5;
  config.quick_gelu = true;
  config.pre_norm = true;
  config.projection = 512;
  config.feature = Feature::embedding;
  return config;
}

VitConfig with_feature(VitConfig config, Feature feature) {
  config.feature = feature;
  return config;
}

BackboneSpec backbone_spec(const std::string& name) {
  if (name == "dino_vitb16" || name == "synclr_vitb16") return {name, dino_vit_config(16), imagenet_normalisation()};
  if (name == "dinov2_vitb14") return {name, dinov2_vit_config(), imagenet_normalisation()};
  if (name == "dino_vitb16_patch") {
    return {name, with_feature(dino_vit_config(16), Feature::cls_patch), imagenet_normalisation()};
  }
  if (name == "dinov2_vitb14_patch") {
    return {name, with_feature(dinov2_vit_config(), Feature::cls_patch), imagenet_normalisation()};
  }
  if (name == "clip_vitb16" || name == "open_clip_vitb16") return {name, clip_config(16), clip_normalisation()};
  if (name == "clip_vitb32" || name == "open_clip_vitb32") return {name, clip_config(32), clip_normalisation()};
  throw std::logic_error("unknown backbone " + name);
}

const std::string kTinyPrefix = "tiny-";

std::string base_name(const std::string& model) {
  return model.starts_with(kTinyPrefix) ? model.substr(kTinyPrefix.size()) : model;
}

// The released patch model's embedding: every token of the last block mean-centred and
// L2-normalised on its own (normalize_embedding_patch), then CLS | mean of the patch tokens.
torch::Tensor packaged_cls_patch(const torch::Tensor& tokens) {
  const auto centred = tokens - tokens.mean(-1, true);
  const auto normalised = centred / centred.norm(2, -1, true);
  return torch::cat({normalised.index({Slice(), 0}), normalised.index({Slice(), Slice(1)}).mean(1)}, 1);
}

}  // namespace

Normalisation imagenet_normalisation() { return {{0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}}; }
Normalisation clip_normalisation() {
  return {{0.48145466f, 0.4578275f, 0.40821073f}, {0.26862954f, 0.26130258f, 0.27577711f}};
}

std::vector<std::string> dreamsim_model_names() {
  return {"ensemble",      "dino_vitb16",   "clip_vitb16",       "open_clip_vitb16",   "clip_vitb32",
          "open_clip_vitb32", "dinov2_vitb14", "synclr_vitb16", "dino_vitb16_patch", "dinov2_vitb14_patch"};
}

std::vector<BackboneSpec> dreamsim_backbones(const std::string& model) {
  const bool tiny = model.starts_with(kTinyPrefix);
  const std::string base = base_name(model);
  const auto known = dreamsim_model_names();
  if (std::find(known.begin(), known.end(), base) == known.end()) {
    std::string list;
    for (const auto& name : known) list += (list.empty() ? "" : ", ") + name;
    throw core::InputError(core::Location{"", 0, "metrics.dreamsim.model"},
                           "unknown DreamSim model '" + model + "'; expected one of " + list +
                               " (or tiny-<name> for random test weights)");
  }
  std::vector<std::string> names = base == "ensemble"
                                       ? std::vector<std::string>{"dino_vitb16", "clip_vitb16", "open_clip_vitb16"}
                                       : std::vector<std::string>{base};
  std::vector<BackboneSpec> specs;
  for (const auto& name : names) {
    auto spec = backbone_spec(name);
    if (tiny) spec.config = tiny_vit_config(spec.config);
    specs.push_back(spec);
  }
  return specs;
}

DreamSim::DreamSim(std::string model_id, const std::string& model)
    : model_id_(std::move(model_id)), specs_(dreamsim_backbones(model)) {
  for (const auto& spec : specs_) {
    backbones_.emplace_back(spec.config);
    backbones_.back()->eval();
  }
}

DreamSim DreamSim::load(const std::string& model, const std::filesystem::path& weights_dir) {
  DreamSim dreamsim("dreamsim-" + model, model);
  const std::string wanted = base_name(model);
  for (std::size_t i = 0; i < dreamsim.specs_.size(); ++i) {
    const auto file = weights_dir / (dreamsim.specs_[i].name + ".safetensors");
    if (!std::filesystem::exists(file)) {
      throw core::InputError(core::Location{file.string(), 0, ""},
                             "missing DreamSim weights for backbone " + dreamsim.specs_[i].name +
                                 " (scripts/convert_dreamsim.py writes them)");
    }
    const auto metadata = core::safetensors::File::open(file).metadata();
    if (const auto converted = metadata.find("dreamsim_model");
        converted != metadata.end() && converted->second != wanted) {
      throw core::InputError(core::Location{file.string(), 0, "__metadata__.dreamsim_model"},
                             "these weights were converted for DreamSim model '" + converted->second +
                                 "' (its own LoRA), not '" + wanted +
                                 "'; convert the release of that model into its own folder");
    }
    diffusion::load_weights(*dreamsim.backbones_[i], {file});
  }
  return dreamsim;
}

DreamSim DreamSim::random(const std::string& model, std::uint64_t seed) {
  DreamSim dreamsim("dreamsim-" + model + "-random-seed" + std::to_string(seed), model);
  for (std::size_t i = 0; i < dreamsim.backbones_.size(); ++i) {
    diffusion::init_seeded(*dreamsim.backbones_[i], seed + i);
  }
  return dreamsim;
}

int DreamSim::embedding_size() const {
  int size = 0;
  for (const auto& spec : specs_) size += spec.config.feature_size();
  return size;
}

torch::Tensor DreamSim::preprocess(const std::vector<core::Image>& images) const {
  const int size = specs_.front().config.image_size;
  auto pixels = torch::empty({static_cast<long>(images.size()), 3, size, size});
  for (std::size_t i = 0; i < images.size(); ++i) {
    const auto resized = resize_bicubic_pillow(to_rgb(images[i]), size, size);
    const auto hwc = torch::from_blob(const_cast<std::uint8_t*>(resized.pixels.data()), {size, size, 3}, torch::kUInt8);
    pixels[static_cast<long>(i)] = hwc.permute({2, 0, 1}).to(torch::kFloat32) / 255.0;
  }
  return pixels;
}

torch::Tensor DreamSim::embed_pixels(const torch::Tensor& pixels) const {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> features;
  for (std::size_t i = 0; i < specs_.size(); ++i) {
    const auto& n = specs_[i].normalisation;
    const auto mean = torch::tensor({n.mean[0], n.mean[1], n.mean[2]}).view({1, 3, 1, 1});
    const auto std = torch::tensor({n.std[0], n.std[1], n.std[2]}).view({1, 3, 1, 1});
    auto backbone = backbones_[i];  // a holder copy: forward() is not const
    const auto normalised = (pixels - mean) / std;
    features.push_back(specs_[i].config.feature == Feature::cls_patch
                           ? packaged_cls_patch(backbone->forward_tokens(normalised))
                           : backbone->forward(normalised));
  }
  return torch::cat(features, 1);
}

torch::Tensor DreamSim::embed(const std::vector<core::Image>& images, int batch_size) const {
  std::vector<torch::Tensor> parts;
  for (std::size_t start = 0; start < images.size(); start += static_cast<std::size_t>(batch_size)) {
    const auto end = std::min(images.size(), start + static_cast<std::size_t>(batch_size));
    const std::vector<core::Image> batch(images.begin() + static_cast<long>(start), images.begin() + static_cast<long>(end));
    parts.push_back(embed_pixels(preprocess(batch)));
  }
  if (parts.empty()) return torch::empty({0, embedding_size()});
  return torch::cat(parts, 0);
}

}  // namespace dsbench::metrics
