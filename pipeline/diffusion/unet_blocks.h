// The building blocks shared by the UNet and the VAE, mirroring diffusers' modules so that
// parameter names equal diffusers' state_dict keys: ResnetBlock2D (norm1, conv1,
// time_emb_proj, norm2, conv2, conv_shortcut), Downsample2D/Upsample2D (conv),
// Transformer2DModel (norm, proj_in, transformer_blocks, proj_out), BasicTransformerBlock
// (norm1, attn1, norm2, attn2, norm3, ff.net.0.proj, ff.net.2) and TimestepEmbedding
// (linear_1, linear_2). Every UNet attention call goes through an AttentionRouter, which
// hands it to the attention::Processor chosen for that layer.
#pragma once

#include <torch/torch.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "pipeline/attention/processor.h"

namespace dsbench::diffusion {

// Chooses the processor of each attention layer and numbers the calls of one forward.
// One router per UNet, shared by all its attention modules.
class AttentionRouter {
 public:
  AttentionRouter();

  void set_default(std::shared_ptr<attention::Processor> processor);
  // Overrides one layer by its diffusers name ("...transformer_blocks.0.attn1"); a null
  // processor removes the override.
  void set_for_layer(const std::string& name, std::shared_ptr<attention::Processor> processor);
  attention::Processor& processor_for(const std::string& name) const;

  // Layers in construction order, which is the UNet's call order.
  void register_layer(const attention::LayerId& layer) { layers_.push_back(layer); }
  const std::vector<attention::LayerId>& layers() const { return layers_; }

  // Brackets one network forward: the step info is visible to every call in between and
  // call indices restart at 0.
  void begin_forward(const attention::StepInfo* step);
  void end_forward();
  const attention::StepInfo* step() const { return step_; }
  int next_call_index() { return call_index_++; }

 private:
  std::shared_ptr<attention::Processor> default_;
  std::map<std::string, std::shared_ptr<attention::Processor>> overrides_;
  std::vector<attention::LayerId> layers_;
  const attention::StepInfo* step_ = nullptr;
  int call_index_ = 0;
};

// Self-attention (context_dim == 0) or cross-attention to a context; the projections are
// named to_q, to_k, to_v (no bias) and to_out.0 (bias), as in diffusers' Attention.
class CrossAttentionImpl : public torch::nn::Module {
 public:
  CrossAttentionImpl(int query_dim, int context_dim, int heads, int head_dim,
                     attention::LayerId layer, std::shared_ptr<AttentionRouter> router);
  // hidden [B, N, C]; context [B, M, C_ctx] (ignored for self-attention); N = height·width.
  torch::Tensor forward(const torch::Tensor& hidden, const torch::Tensor& context, int height,
                        int width);

 private:
  attention::LayerId layer_;
  attention::AttentionKind kind_;
  attention::AttentionLayer projections_;
  std::shared_ptr<AttentionRouter> router_;
};
TORCH_MODULE(CrossAttention);

// diffusers' GEGLU feed-forward: net.0.proj (C → 2·4C), gelu-gated, net.2 (4C → C).
class FeedForwardImpl : public torch::nn::Module {
 public:
  explicit FeedForwardImpl(int dim);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::Linear proj_{nullptr};
  torch::nn::Linear out_{nullptr};
};
TORCH_MODULE(FeedForward);

class BasicTransformerBlockImpl : public torch::nn::Module {
 public:
  // `layer` names the block ("...transformer_blocks.N"); attn1/attn2 extend it.
  BasicTransformerBlockImpl(int dim, int heads, int head_dim, int context_dim,
                            const attention::LayerId& layer,
                            const std::shared_ptr<AttentionRouter>& router);
  torch::Tensor forward(const torch::Tensor& hidden, const torch::Tensor& context, int height,
                        int width);

 private:
  torch::nn::LayerNorm norm1_{nullptr}, norm2_{nullptr}, norm3_{nullptr};
  CrossAttention attn1_{nullptr}, attn2_{nullptr};
  FeedForward ff_{nullptr};
};
TORCH_MODULE(BasicTransformerBlock);

struct TransformerSettings {
  int heads = 8;
  int head_dim = 40;
  int depth = 1;
  int context_dim = 768;
  int norm_groups = 32;
  bool linear_projection = false;  // SD1.5: 1×1 convs; SD2/SDXL: linear layers
};

class Transformer2DModelImpl : public torch::nn::Module {
 public:
  // `layer` names the Transformer2DModel ("down_blocks.0.attentions.1"); its block,
  // level and attention index are copied into every attention layer inside.
  Transformer2DModelImpl(int channels, const TransformerSettings& settings,
                         const attention::LayerId& layer,
                         const std::shared_ptr<AttentionRouter>& router);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& context);

 private:
  bool linear_projection_;
  torch::nn::GroupNorm norm_{nullptr};
  torch::nn::Conv2d proj_in_conv_{nullptr}, proj_out_conv_{nullptr};
  torch::nn::Linear proj_in_linear_{nullptr}, proj_out_linear_{nullptr};
  std::vector<BasicTransformerBlock> blocks_;
};
TORCH_MODULE(Transformer2DModel);

class ResnetBlock2DImpl : public torch::nn::Module {
 public:
  // temb_channels 0: no time embedding (the VAE's resnets).
  ResnetBlock2DImpl(int in_channels, int out_channels, int temb_channels, int groups, double eps);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& temb = {});

 private:
  torch::nn::GroupNorm norm1_{nullptr}, norm2_{nullptr};
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr}, conv_shortcut_{nullptr};
  torch::nn::Linear time_emb_proj_{nullptr};
};
TORCH_MODULE(ResnetBlock2D);

class Downsample2DImpl : public torch::nn::Module {
 public:
  // padding 1 (UNet) or 0 with an asymmetric (0,1,0,1) zero pad first (VAE encoder).
  Downsample2DImpl(int channels, int padding);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  int padding_;
  torch::nn::Conv2d conv_{nullptr};
};
TORCH_MODULE(Downsample2D);

class Upsample2DImpl : public torch::nn::Module {
 public:
  explicit Upsample2DImpl(int channels);
  // Nearest-neighbour to `size` ({} = twice the input), then a 3×3 conv.
  torch::Tensor forward(const torch::Tensor& x, std::vector<std::int64_t> size = {});

 private:
  torch::nn::Conv2d conv_{nullptr};
};
TORCH_MODULE(Upsample2D);

class TimestepEmbeddingImpl : public torch::nn::Module {
 public:
  TimestepEmbeddingImpl(int in_channels, int out_channels);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::Linear linear_1_{nullptr}, linear_2_{nullptr};
};
TORCH_MODULE(TimestepEmbedding);

// Sinusoidal embedding of `timesteps` [B] to [B, dim], as diffusers' get_timestep_embedding
// (max period 10000, scale 1); flip_sin_to_cos puts the cosines first.
torch::Tensor timestep_embedding(const torch::Tensor& timesteps, int dim, bool flip_sin_to_cos,
                                 double freq_shift);

}  // namespace dsbench::diffusion
