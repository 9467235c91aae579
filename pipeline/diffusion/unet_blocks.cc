#include "pipeline/diffusion/unet_blocks.h"

#include <algorithm>
#include <cmath>

#include "core/errors.h"

namespace dsbench::diffusion {

namespace nn = torch::nn;
using attention::AttentionKind;
using attention::LayerId;

namespace {

nn::Conv2d conv(int in, int out, int kernel, int stride = 1, int padding = 0) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, kernel).stride(stride).padding(padding));
}

nn::GroupNorm group_norm(int groups, int channels, double eps) {
  return nn::GroupNorm(nn::GroupNormOptions(groups, channels).eps(eps).affine(true));
}

}  // namespace

// ---- AttentionRouter ----

AttentionRouter::AttentionRouter() : default_(std::make_shared<attention::VanillaProcessor>()) {}

void AttentionRouter::set_default(std::shared_ptr<attention::Processor> processor) {
  if (!processor) throw core::RunError("AttentionRouter: the default processor must not be null");
  default_ = std::move(processor);
}

void AttentionRouter::set_for_layer(const std::string& name,
                                    std::shared_ptr<attention::Processor> processor) {
  const bool known = std::any_of(layers_.begin(), layers_.end(),
                                 [&](const LayerId& layer) { return layer.name == name; });
  if (!known) {
    throw core::InputError(core::Location{"", 0, "attention layer"},
                           "no attention layer named '" + name + "' in this UNet");
  }
  if (processor) {
    overrides_[name] = std::move(processor);
  } else {
    overrides_.erase(name);
  }
}

attention::Processor& AttentionRouter::processor_for(const std::string& name) const {
  const auto found = overrides_.find(name);
  return found != overrides_.end() ? *found->second : *default_;
}

void AttentionRouter::begin_forward(const attention::StepInfo* step) {
  step_ = step;
  call_index_ = 0;
}

void AttentionRouter::end_forward() { step_ = nullptr; }

// ---- CrossAttention ----

CrossAttentionImpl::CrossAttentionImpl(int query_dim, int context_dim, int heads, int head_dim,
                                       LayerId layer, std::shared_ptr<AttentionRouter> router)
    : layer_(std::move(layer)),
      kind_(context_dim > 0 ? AttentionKind::kCross : AttentionKind::kSelf),
      router_(std::move(router)) {
  const int inner = heads * head_dim;
  const int source_dim = context_dim > 0 ? context_dim : query_dim;
  projections_.heads = heads;
  projections_.to_q = register_module("to_q", nn::Linear(nn::LinearOptions(query_dim, inner).bias(false)));
  projections_.to_k = register_module("to_k", nn::Linear(nn::LinearOptions(source_dim, inner).bias(false)));
  projections_.to_v = register_module("to_v", nn::Linear(nn::LinearOptions(source_dim, inner).bias(false)));
  projections_.to_out = nn::Linear(nn::LinearOptions(inner, query_dim));
  // diffusers' to_out is [Linear, Dropout]: index 0 carries the weights.
  register_module("to_out", nn::ModuleList(projections_.to_out));
  router_->register_layer(layer_);
}

torch::Tensor CrossAttentionImpl::forward(const torch::Tensor& hidden, const torch::Tensor& context,
                                          int height, int width) {
  if (kind_ == AttentionKind::kCross && !context.defined()) {
    throw core::RunError("cross-attention " + layer_.name + " called without a context");
  }
  attention::AttentionCall call;
  call.layer = layer_;
  call.layer.call_index = router_->next_call_index();
  call.kind = kind_;
  call.height = height;
  call.width = width;
  const attention::StepInfo no_step;
  call.step = router_->step() != nullptr ? router_->step() : &no_step;
  return router_->processor_for(layer_.name)
      .attend(call, projections_, hidden, kind_ == AttentionKind::kCross ? context : torch::Tensor{});
}

// ---- FeedForward ----

FeedForwardImpl::FeedForwardImpl(int dim) {
  const int inner = 4 * dim;
  auto geglu = std::make_shared<nn::Module>();
  proj_ = geglu->register_module("proj", nn::Linear(dim, 2 * inner));
  out_ = nn::Linear(inner, dim);
  // net = [GEGLU, Dropout, Linear]; the dropout slot holds no weights.
  register_module("net", nn::ModuleList(geglu, nn::Identity(), out_));
}

torch::Tensor FeedForwardImpl::forward(const torch::Tensor& x) {
  const auto halves = proj_(x).chunk(2, -1);
  return out_(halves[0] * torch::gelu(halves[1]));
}

// ---- BasicTransformerBlock ----

BasicTransformerBlockImpl::BasicTransformerBlockImpl(int dim, int heads, int head_dim,
                                                     int context_dim, const LayerId& layer,
                                                     const std::shared_ptr<AttentionRouter>& router) {
  const auto layer_norm = [&] { return nn::LayerNorm(nn::LayerNormOptions({dim}).eps(1e-5)); };
  LayerId self_layer = layer;
  self_layer.name = layer.name + ".attn1";
  LayerId cross_layer = layer;
  cross_layer.name = layer.name + ".attn2";
  norm1_ = register_module("norm1", layer_norm());
  attn1_ = register_module("attn1", CrossAttention(dim, 0, heads, head_dim, self_layer, router));
  norm2_ = register_module("norm2", layer_norm());
  attn2_ = register_module("attn2", CrossAttention(dim, context_dim, heads, head_dim, cross_layer, router));
  norm3_ = register_module("norm3", layer_norm());
  ff_ = register_module("ff", FeedForward(dim));
}

torch::Tensor BasicTransformerBlockImpl::forward(const torch::Tensor& hidden,
                                                 const torch::Tensor& context, int height,
                                                 int width) {
  auto h = attn1_(norm1_(hidden), torch::Tensor{}, height, width) + hidden;
  h = attn2_(norm2_(h), context, height, width) + h;
  return ff_(norm3_(h)) + h;
}

// ---- Transformer2DModel ----

Transformer2DModelImpl::Transformer2DModelImpl(int channels, const TransformerSettings& settings,
                                               const LayerId& layer,
                                               const std::shared_ptr<AttentionRouter>& router)
    : linear_projection_(settings.linear_projection) {
  const int inner = settings.heads * settings.head_dim;
  norm_ = register_module("norm", group_norm(settings.norm_groups, channels, 1e-6));
  if (linear_projection_) {
    proj_in_linear_ = register_module("proj_in", nn::Linear(channels, inner));
  } else {
    proj_in_conv_ = register_module("proj_in", conv(channels, inner, 1));
  }
  nn::ModuleList blocks;
  for (int t = 0; t < settings.depth; ++t) {
    LayerId block_layer = layer;
    block_layer.transformer = t;
    block_layer.name = layer.name + ".transformer_blocks." + std::to_string(t);
    blocks_.push_back(BasicTransformerBlock(inner, settings.heads, settings.head_dim,
                                            settings.context_dim, block_layer, router));
    blocks->push_back(blocks_.back());
  }
  register_module("transformer_blocks", blocks);
  if (linear_projection_) {
    proj_out_linear_ = register_module("proj_out", nn::Linear(inner, channels));
  } else {
    proj_out_conv_ = register_module("proj_out", conv(inner, channels, 1));
  }
}

torch::Tensor Transformer2DModelImpl::forward(const torch::Tensor& x, const torch::Tensor& context) {
  const auto batch = x.size(0);
  const auto height = x.size(2);
  const auto width = x.size(3);
  const auto to_tokens = [&](const torch::Tensor& t) {
    return t.permute({0, 2, 3, 1}).reshape({batch, height * width, t.size(1)});
  };
  const auto to_grid = [&](const torch::Tensor& t) {
    return t.reshape({batch, height, width, t.size(2)}).permute({0, 3, 1, 2}).contiguous();
  };
  auto h = norm_(x);
  h = linear_projection_ ? proj_in_linear_(to_tokens(h)) : to_tokens(proj_in_conv_(h));
  for (auto& block : blocks_) {
    h = block(h, context, static_cast<int>(height), static_cast<int>(width));
  }
  h = linear_projection_ ? to_grid(proj_out_linear_(h)) : proj_out_conv_(to_grid(h));
  return h + x;
}

// ---- ResnetBlock2D ----

ResnetBlock2DImpl::ResnetBlock2DImpl(int in_channels, int out_channels, int temb_channels,
                                     int groups, double eps) {
  norm1_ = register_module("norm1", group_norm(groups, in_channels, eps));
  conv1_ = register_module("conv1", conv(in_channels, out_channels, 3, 1, 1));
  if (temb_channels > 0) {
    time_emb_proj_ = register_module("time_emb_proj", nn::Linear(temb_channels, out_channels));
  }
  norm2_ = register_module("norm2", group_norm(groups, out_channels, eps));
  conv2_ = register_module("conv2", conv(out_channels, out_channels, 3, 1, 1));
  if (in_channels != out_channels) {
    conv_shortcut_ = register_module("conv_shortcut", conv(in_channels, out_channels, 1));
  }
}

torch::Tensor ResnetBlock2DImpl::forward(const torch::Tensor& x, const torch::Tensor& temb) {
  auto h = conv1_(torch::silu(norm1_(x)));
  if (!time_emb_proj_.is_empty() && temb.defined()) {
    h = h + time_emb_proj_(torch::silu(temb)).unsqueeze(-1).unsqueeze(-1);
  }
  h = conv2_(torch::silu(norm2_(h)));
  const auto shortcut = conv_shortcut_.is_empty() ? x : conv_shortcut_(x);
  return shortcut + h;
}

// ---- Down/Upsample ----

Downsample2DImpl::Downsample2DImpl(int channels, int padding) : padding_(padding) {
  conv_ = register_module("conv", conv(channels, channels, 3, 2, padding));
}

torch::Tensor Downsample2DImpl::forward(const torch::Tensor& x) {
  if (padding_ == 0) {
    return conv_(torch::constant_pad_nd(x, {0, 1, 0, 1}, 0));
  }
  return conv_(x);
}

Upsample2DImpl::Upsample2DImpl(int channels) {
  conv_ = register_module("conv", conv(channels, channels, 3, 1, 1));
}

torch::Tensor Upsample2DImpl::forward(const torch::Tensor& x, std::vector<std::int64_t> size) {
  if (size.empty()) size = {2 * x.size(2), 2 * x.size(3)};
  return conv_(torch::upsample_nearest2d(x, size));
}

// ---- Time embedding ----

TimestepEmbeddingImpl::TimestepEmbeddingImpl(int in_channels, int out_channels) {
  linear_1_ = register_module("linear_1", nn::Linear(in_channels, out_channels));
  linear_2_ = register_module("linear_2", nn::Linear(out_channels, out_channels));
}

torch::Tensor TimestepEmbeddingImpl::forward(const torch::Tensor& x) {
  return linear_2_(torch::silu(linear_1_(x)));
}

torch::Tensor timestep_embedding(const torch::Tensor& timesteps, int dim, bool flip_sin_to_cos,
                                 double freq_shift) {
  const int half = dim / 2;
  // Same float32 operation order as diffusers, so the embedding matches bit for bit.
  const auto exponent = -std::log(10000.0) *
                        torch::arange(0, half, torch::TensorOptions().dtype(torch::kFloat32)) /
                        (half - freq_shift);
  const auto frequencies = torch::exp(exponent);
  const auto angles = timesteps.to(torch::kFloat32).unsqueeze(1) * frequencies.unsqueeze(0);
  auto embedding = flip_sin_to_cos ? torch::cat({torch::cos(angles), torch::sin(angles)}, -1)
                                   : torch::cat({torch::sin(angles), torch::cos(angles)}, -1);
  if (dim % 2 == 1) embedding = torch::constant_pad_nd(embedding, {0, 1}, 0);
  return embedding;
}

}  // namespace dsbench::diffusion
