#include "metrics/dreamsim.h"

#include <algorithm>
#include <cmath>

#include "core/errors.h"
#include "metrics/resize.h"
#include "pipeline/diffusion/weights.h"

namespace dsbench::metrics {
namespace {

using torch::indexing::Slice;

std::shared_ptr<torch::nn::Module> container(torch::nn::Module& parent, const std::string& name) {
  return parent.register_module(name, std::make_shared<torch::nn::Module>());
}

torch::nn::LayerNorm layer_norm(int width, double eps) {
  return torch::nn::LayerNorm(torch::nn::LayerNormOptions({width}).eps(eps));
}

VitConfig dino_config(int patch) {
  VitConfig config;
  config.patch = patch;
  return config;
}

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

VitConfig shrunk(VitConfig config) {
  config.width = 32;
  config.depth = 2;
  config.heads = 2;
  if (config.projection > 0) config.projection = 16;
  return config;
}

BackboneSpec backbone_spec(const std::string& name) {
  if (name == "dino_vitb16") return {name, dino_config(16), imagenet_normalisation()};
  if (name == "clip_vitb16" || name == "open_clip_vitb16") return {name, clip_config(16), clip_normalisation()};
  if (name == "clip_vitb32" || name == "open_clip_vitb32") return {name, clip_config(32), clip_normalisation()};
  throw std::logic_error("unknown backbone " + name);
}

const std::string kTinyPrefix = "tiny-";

}  // namespace

Normalisation imagenet_normalisation() { return {{0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}}; }
Normalisation clip_normalisation() {
  return {{0.48145466f, 0.4578275f, 0.40821073f}, {0.26862954f, 0.26130258f, 0.27577711f}};
}

VisionTransformerImpl::VisionTransformerImpl(const VitConfig& config) : config_(config) {
  if (config.image_size % config.patch != 0 || config.width % config.heads != 0) {
    throw std::invalid_argument("ViT: image size must be a multiple of the patch, width of the heads");
  }
  const int tokens = 1 + (config.image_size / config.patch) * (config.image_size / config.patch);
  cls_token_ = register_parameter("cls_token", torch::zeros({1, 1, config.width}));
  pos_embed_ = register_parameter("pos_embed", torch::zeros({1, tokens, config.width}));
  patch_embed_ = container(*this, "patch_embed")->register_module(
      "proj", torch::nn::Conv2d(torch::nn::Conv2dOptions(3, config.width, config.patch).stride(config.patch)));
  if (config.pre_norm) pre_norm_ = register_module("pos_drop", layer_norm(config.width, config.eps));
  const auto blocks = container(*this, "blocks");
  for (int i = 0; i < config.depth; ++i) {
    const auto module = container(*blocks, std::to_string(i));
    Block block;
    block.norm1 = module->register_module("norm1", layer_norm(config.width, config.eps));
    const auto attn = container(*module, "attn");
    block.qkv = attn->register_module("qkv", torch::nn::Linear(config.width, 3 * config.width));
    block.attn_proj = attn->register_module("proj", torch::nn::Linear(config.width, config.width));
    block.norm2 = module->register_module("norm2", layer_norm(config.width, config.eps));
    const auto mlp = container(*module, "mlp");
    const int hidden = config.width * config.mlp_ratio;
    block.fc1 = mlp->register_module("fc1", torch::nn::Linear(config.width, hidden));
    block.fc2 = mlp->register_module("fc2", torch::nn::Linear(hidden, config.width));
    blocks_.push_back(block);
  }
  norm_ = register_module("norm", layer_norm(config.width, config.eps));
  if (config.projection > 0) proj_ = register_parameter("proj", torch::zeros({config.width, config.projection}));
}

torch::Tensor VisionTransformerImpl::block_forward(Block block, torch::Tensor x) const {
  const auto batch = x.size(0), tokens = x.size(1);
  const int heads = config_.heads, head_dim = config_.width / config_.heads;
  const auto qkv = block.qkv->forward(block.norm1->forward(x))
                       .reshape({batch, tokens, 3, heads, head_dim})
                       .permute({2, 0, 3, 1, 4});
  const auto q = qkv[0] * (1.0 / std::sqrt(static_cast<double>(head_dim)));
  const auto attention = torch::softmax(torch::matmul(q, qkv[1].transpose(-2, -1)), -1);
  const auto mixed = torch::matmul(attention, qkv[2]).transpose(1, 2).reshape({batch, tokens, config_.width});
  x = x + block.attn_proj->forward(mixed);
  auto hidden = block.fc1->forward(block.norm2->forward(x));
  hidden = config_.quick_gelu ? hidden * torch::sigmoid(1.702 * hidden) : torch::gelu(hidden);
  return x + block.fc2->forward(hidden);
}

torch::Tensor VisionTransformerImpl::forward(const torch::Tensor& pixels) {
  const auto batch = pixels.size(0);
  auto x = patch_embed_->forward(pixels).flatten(2).transpose(1, 2);
  x = torch::cat({cls_token_.expand({batch, 1, config_.width}), x}, 1) + pos_embed_;
  if (config_.pre_norm) x = pre_norm_->forward(x);
  for (const auto& block : blocks_) x = block_forward(block, x);
  if (config_.feature == Feature::cls) return x.index({Slice(), 0});
  return torch::matmul(norm_->forward(x.index({Slice(), 0})), proj_);
}

std::vector<std::string> dreamsim_model_names() {
  return {"ensemble", "dino_vitb16", "clip_vitb16", "open_clip_vitb16", "clip_vitb32", "open_clip_vitb32"};
}

std::vector<BackboneSpec> dreamsim_backbones(const std::string& model) {
  const bool tiny = model.starts_with(kTinyPrefix);
  const std::string base = tiny ? model.substr(kTinyPrefix.size()) : model;
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
    if (tiny) spec.config = shrunk(spec.config);
    specs.push_back(spec);
  }
  return specs;
}

DreamSim::DreamSim(std::string model_id, std::vector<BackboneSpec> specs)
    : model_id_(std::move(model_id)), specs_(std::move(specs)) {
  for (const auto& spec : specs_) {
    backbones_.emplace_back(spec.config);
    backbones_.back()->eval();
  }
}

DreamSim DreamSim::load(const std::string& model, const std::filesystem::path& weights_dir) {
  DreamSim dreamsim("dreamsim-" + model, dreamsim_backbones(model));
  for (std::size_t i = 0; i < dreamsim.specs_.size(); ++i) {
    const auto file = weights_dir / (dreamsim.specs_[i].name + ".safetensors");
    if (!std::filesystem::exists(file)) {
      throw core::InputError(core::Location{file.string(), 0, ""},
                             "missing DreamSim weights for backbone " + dreamsim.specs_[i].name +
                                 " (scripts/convert_dreamsim.py writes them)");
    }
    diffusion::load_weights(*dreamsim.backbones_[i], {file});
  }
  return dreamsim;
}

DreamSim DreamSim::random(const std::string& model, std::uint64_t seed) {
  DreamSim dreamsim("dreamsim-" + model + "-random-seed" + std::to_string(seed), dreamsim_backbones(model));
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
    features.push_back(backbone->forward((pixels - mean) / std));
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
