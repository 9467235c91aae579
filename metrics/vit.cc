#include "metrics/vit.h"

#include <cmath>
#include <stdexcept>

namespace dsbench::metrics {
namespace {

using torch::indexing::Slice;
namespace F = torch::nn::functional;

std::shared_ptr<torch::nn::Module> container(torch::nn::Module& parent, const std::string& name) {
  return parent.register_module(name, std::make_shared<torch::nn::Module>());
}

torch::nn::LayerNorm layer_norm(int width, double eps) {
  return torch::nn::LayerNorm(torch::nn::LayerNormOptions({width}).eps(eps));
}

}  // namespace

int VitConfig::feature_size() const {
  switch (feature) {
    case Feature::embedding: return projection;
    case Feature::cls_patch: return 2 * width;
    case Feature::cls:
    case Feature::mean_token: break;
  }
  return width;
}

VitConfig dino_vit_config(int patch) {
  VitConfig config;
  config.patch = patch;
  return config;
}

VitConfig dinov2_vit_config() {
  VitConfig config;
  config.patch = 14;
  config.layer_scale = true;
  config.position_grid = 37;
  return config;
}

VitConfig tiny_vit_config(VitConfig config) {
  config.width = 32;
  config.depth = 2;
  config.heads = 2;
  if (config.projection > 0) config.projection = 16;
  return config;
}

VisionTransformerImpl::VisionTransformerImpl(const VitConfig& config) : config_(config) {
  if (config.image_size % config.patch != 0 || config.width % config.heads != 0) {
    throw std::invalid_argument("ViT: image size must be a multiple of the patch, width of the heads");
  }
  const int stored = config.stored_grid();
  cls_token_ = register_parameter("cls_token", torch::zeros({1, 1, config.width}));
  pos_embed_ = register_parameter("pos_embed", torch::zeros({1, 1 + stored * stored, config.width}));
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
    if (config.layer_scale) {
      block.ls1 = container(*module, "ls1")->register_parameter("gamma", torch::ones({config.width}));
      block.ls2 = container(*module, "ls2")->register_parameter("gamma", torch::ones({config.width}));
    }
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
  auto attended = block.attn_proj->forward(mixed);
  if (block.ls1.defined()) attended = attended * block.ls1;
  x = x + attended;
  auto hidden = block.fc1->forward(block.norm2->forward(x));
  hidden = config_.quick_gelu ? hidden * torch::sigmoid(1.702 * hidden) : torch::gelu(hidden);
  auto out = block.fc2->forward(hidden);
  if (block.ls2.defined()) out = out * block.ls2;
  return x + out;
}

torch::Tensor VisionTransformerImpl::position_embedding() const {
  const int stored = config_.stored_grid(), grid = config_.grid(), width = config_.width;
  if (stored == grid) return pos_embed_;
  const auto patches = pos_embed_.index({Slice(), Slice(1)}).reshape({1, stored, stored, width}).permute({0, 3, 1, 2});
  auto options = F::InterpolateFuncOptions().mode(torch::kBicubic).align_corners(false);
  if (config_.interpolation == PositionInterpolation::scale_offset) {
    // DINO's "small number to avoid floating point error": the scale, not the size, is
    // what the kernel maps coordinates with, so it has to be passed as such.
    const double scale = (grid + 0.1) / stored;
    options = options.scale_factor(std::vector<double>{scale, scale}).recompute_scale_factor(false);
  } else {
    options = options.size(std::vector<int64_t>{grid, grid});
  }
  const auto resized = F::interpolate(patches, options);
  if (resized.size(2) != grid || resized.size(3) != grid) {
    throw std::logic_error("ViT: position interpolation gave the wrong grid");
  }
  return torch::cat({pos_embed_.index({Slice(), Slice(0, 1)}), resized.permute({0, 2, 3, 1}).reshape({1, grid * grid, width})},
                    1);
}

torch::Tensor VisionTransformerImpl::forward_tokens(const torch::Tensor& pixels) {
  const auto batch = pixels.size(0);
  auto x = patch_embed_->forward(pixels).flatten(2).transpose(1, 2);
  x = torch::cat({cls_token_.expand({batch, 1, config_.width}), x}, 1) + position_embedding();
  if (config_.pre_norm) x = pre_norm_->forward(x);
  for (const auto& block : blocks_) x = block_forward(block, x);
  return x;
}

torch::Tensor VisionTransformerImpl::forward(const torch::Tensor& pixels) {
  const auto x = forward_tokens(pixels);
  switch (config_.feature) {
    case Feature::cls: return x.index({Slice(), 0});
    case Feature::embedding: return torch::matmul(norm_->forward(x.index({Slice(), 0})), proj_);
    case Feature::cls_patch:
      return torch::cat({x.index({Slice(), 0}), x.index({Slice(), Slice(1)}).mean(1)}, 1);
    case Feature::mean_token: return norm_->forward(x).mean(1);
  }
  throw std::logic_error("ViT: unknown feature");
}

}  // namespace dsbench::metrics
