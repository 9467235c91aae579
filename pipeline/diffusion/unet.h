// The Stable Diffusion UNet (diffusers' UNet2DConditionModel), with parameter names equal
// to diffusers' state_dict keys. SD1.5 and SDXL differ only in UNetConfig: channels,
// which levels carry attention, transformer depth per level, heads, context width, linear
// or convolutional projections, and SDXL's "text_time" addition embedding.
//
// Every attention call goes through the attention::Processor chosen for its layer
// (VanillaProcessor unless set otherwise), with the layer's identity and the StepInfo.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "pipeline/attention/processor.h"
#include "pipeline/diffusion/unet_blocks.h"

namespace dsbench::diffusion {

struct UNetConfig {
  int in_channels = 4;
  int out_channels = 4;
  std::vector<int> block_out_channels{320, 640, 1280, 1280};
  int layers_per_block = 2;
  // Per down level: CrossAttnDownBlock2D (true) or DownBlock2D (false). Up levels mirror
  // it (up block i has attention iff down block n-1-i has).
  std::vector<bool> down_block_has_attention{true, true, true, false};
  // Per down level: BasicTransformerBlocks per Transformer2DModel (up levels reversed,
  // the mid block uses the last). SDXL: {1, 2, 10} (level 0 has no attention).
  std::vector<int> transformer_layers_per_block{1, 1, 1, 1};
  // Per down level: attention heads (head dim = channels / heads). diffusers' SD1.5
  // config calls this attention_head_dim = 8, but it is the head count.
  std::vector<int> attention_heads{8, 8, 8, 8};
  int cross_attention_dim = 768;
  int norm_num_groups = 32;
  double norm_eps = 1e-5;
  bool use_linear_projection = false;
  bool flip_sin_to_cos = true;
  int freq_shift = 0;
  // "" or "text_time" (SDXL: pooled text embeds + 6 time ids, Fourier-embedded at
  // addition_time_embed_dim each, projected from projection_class_embeddings_input_dim).
  std::string addition_embed_type;
  int addition_time_embed_dim = 0;
  int projection_class_embeddings_input_dim = 0;

  static UNetConfig sd15();
  // SDXL base: its parameter count equals the published 2,567,463,684 (a disabled test,
  // 10 GB); no SDXL weights have been loaded and no SDXL pipeline exists yet.
  static UNetConfig sdxl();
  static UNetConfig tiny();  // 32/64 channels, 1 resnet per level, 2 heads, context 32

  int levels() const { return static_cast<int>(block_out_channels.size()); }
  int time_embed_dim() const { return block_out_channels.front() * 4; }
  int downsampling_factor() const { return 1 << (levels() - 1); }
  void validate() const;  // InputError naming the inconsistent field
};

// SDXL's extra conditioning ("text_time"): pooled text embedding [B, P] and time ids [B, 6].
struct AddedConditions {
  torch::Tensor text_embeds;
  torch::Tensor time_ids;
};

class UNetImpl : public torch::nn::Module {
 public:
  explicit UNetImpl(const UNetConfig& config);

  // sample [B, 4, h, w]; timestep: scalar or [B]; context [B, M, cross_attention_dim].
  // `step` is what every processor sees (step index, timestep, batch row roles).
  torch::Tensor forward(const torch::Tensor& sample, const torch::Tensor& timestep,
                        const torch::Tensor& context, const attention::StepInfo& step,
                        const AddedConditions& added = {});

  void set_processor(std::shared_ptr<attention::Processor> processor);
  // Per-layer override by diffusers name; null removes it. InputError for unknown names.
  void set_layer_processor(const std::string& name, std::shared_ptr<attention::Processor> processor);
  // Every attention layer in call order (call_index = position).
  std::vector<attention::LayerId> attention_layers() const;
  const UNetConfig& config() const { return config_; }

 private:
  class DownBlock;
  class UpBlock;
  class MidBlock;

  UNetConfig config_;
  std::shared_ptr<AttentionRouter> router_;
  torch::nn::Conv2d conv_in_{nullptr}, conv_out_{nullptr};
  TimestepEmbedding time_embedding_{nullptr}, add_embedding_{nullptr};
  std::vector<std::shared_ptr<DownBlock>> down_blocks_;
  std::shared_ptr<MidBlock> mid_block_;
  std::vector<std::shared_ptr<UpBlock>> up_blocks_;
  torch::nn::GroupNorm conv_norm_out_{nullptr};
};
TORCH_MODULE(UNet);

}  // namespace dsbench::diffusion
