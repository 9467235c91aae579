#include "pipeline/diffusion/unet.h"

#include "core/errors.h"

namespace dsbench::diffusion {

namespace nn = torch::nn;
using attention::LayerId;
using attention::UNetBlock;

namespace {

std::string block_prefix(UNetBlock block, int level) {
  switch (block) {
    case UNetBlock::kDown: return "down_blocks." + std::to_string(level);
    case UNetBlock::kUp: return "up_blocks." + std::to_string(level);
    case UNetBlock::kMid: return "mid_block";
  }
  return "";
}

LayerId transformer_layer(UNetBlock block, int level, int attention) {
  LayerId layer;
  layer.block = block;
  layer.level = level;
  layer.attention = attention;
  layer.name = block_prefix(block, level) + ".attentions." + std::to_string(attention);
  return layer;
}

TransformerSettings transformer_settings(const UNetConfig& config, int channels, int heads, int depth) {
  TransformerSettings settings;
  settings.heads = heads;
  settings.head_dim = channels / heads;
  settings.depth = depth;
  settings.context_dim = config.cross_attention_dim;
  settings.norm_groups = config.norm_num_groups;
  settings.linear_projection = config.use_linear_projection;
  return settings;
}

void require(bool condition, const std::string& field, const std::string& expectation) {
  if (!condition) throw core::InputError(core::Location{"", 0, "unet." + field}, expectation);
}

}  // namespace

// ---- UNetConfig ----

UNetConfig UNetConfig::sd15() { return UNetConfig{}; }

UNetConfig UNetConfig::sdxl() {
  UNetConfig config;
  config.block_out_channels = {320, 640, 1280};
  config.down_block_has_attention = {false, true, true};
  config.transformer_layers_per_block = {1, 2, 10};
  config.attention_heads = {5, 10, 20};
  config.cross_attention_dim = 2048;
  config.use_linear_projection = true;
  config.addition_embed_type = "text_time";
  config.addition_time_embed_dim = 256;
  config.projection_class_embeddings_input_dim = 2816;
  return config;
}

UNetConfig UNetConfig::tiny() {
  UNetConfig config;
  config.block_out_channels = {32, 64};
  config.layers_per_block = 1;
  config.down_block_has_attention = {true, true};
  config.transformer_layers_per_block = {1, 1};
  config.attention_heads = {2, 2};
  config.cross_attention_dim = 32;
  return config;
}

void UNetConfig::validate() const {
  const auto n = block_out_channels.size();
  require(n >= 1, "block_out_channels", "at least one level");
  require(down_block_has_attention.size() == n, "down_block_has_attention",
          "one entry per level of block_out_channels");
  require(transformer_layers_per_block.size() == n, "transformer_layers_per_block",
          "one entry per level of block_out_channels");
  require(attention_heads.size() == n, "attention_heads", "one entry per level of block_out_channels");
  require(layers_per_block >= 1, "layers_per_block", "at least 1");
  for (std::size_t i = 0; i < n; ++i) {
    const auto at = "[" + std::to_string(i) + "]";
    require(block_out_channels[i] > 0 && block_out_channels[i] % norm_num_groups == 0,
            "block_out_channels" + at, "a positive multiple of norm_num_groups");
    require(attention_heads[i] > 0 && block_out_channels[i] % attention_heads[i] == 0,
            "attention_heads" + at, "a positive divisor of the level's channels");
    require(transformer_layers_per_block[i] >= 1, "transformer_layers_per_block" + at, "at least 1");
  }
  require(addition_embed_type.empty() || addition_embed_type == "text_time", "addition_embed_type",
          "\"\" or \"text_time\"");
  require(addition_embed_type.empty() ||
              (addition_time_embed_dim > 0 && projection_class_embeddings_input_dim > 0),
          "addition_time_embed_dim", "positive dims for the text_time addition embedding");
}

// ---- Blocks ----

// CrossAttnDownBlock2D / DownBlock2D.
class UNetImpl::DownBlock : public nn::Module {
 public:
  DownBlock(const UNetConfig& config, int level, const std::shared_ptr<AttentionRouter>& router) {
    const int out = config.block_out_channels[level];
    const int in = level == 0 ? config.block_out_channels[0] : config.block_out_channels[level - 1];
    nn::ModuleList resnets, attentions;
    for (int j = 0; j < config.layers_per_block; ++j) {
      resnets_.push_back(ResnetBlock2D(j == 0 ? in : out, out, config.time_embed_dim(),
                                       config.norm_num_groups, config.norm_eps));
      resnets->push_back(resnets_.back());
      if (config.down_block_has_attention[level]) {
        attentions_.push_back(Transformer2DModel(
            out,
            transformer_settings(config, out, config.attention_heads[level],
                                 config.transformer_layers_per_block[level]),
            transformer_layer(UNetBlock::kDown, level, j), router));
        attentions->push_back(attentions_.back());
      }
    }
    register_module("resnets", resnets);
    if (!attentions_.empty()) register_module("attentions", attentions);
    if (level + 1 < config.levels()) {
      downsampler_ = Downsample2D(out, 1);
      register_module("downsamplers", nn::ModuleList(downsampler_));
    }
  }

  torch::Tensor forward(torch::Tensor h, const torch::Tensor& temb, const torch::Tensor& context,
                        std::vector<torch::Tensor>& skips) {
    for (std::size_t j = 0; j < resnets_.size(); ++j) {
      h = resnets_[j](h, temb);
      if (!attentions_.empty()) h = attentions_[j](h, context);
      skips.push_back(h);
    }
    if (!downsampler_.is_empty()) {
      h = downsampler_(h);
      skips.push_back(h);
    }
    return h;
  }

 private:
  std::vector<ResnetBlock2D> resnets_;
  std::vector<Transformer2DModel> attentions_;
  Downsample2D downsampler_{nullptr};
};

// UNetMidBlock2DCrossAttn: resnet, transformer, resnet.
class UNetImpl::MidBlock : public nn::Module {
 public:
  MidBlock(const UNetConfig& config, const std::shared_ptr<AttentionRouter>& router) {
    const int channels = config.block_out_channels.back();
    const auto resnet = [&] {
      return ResnetBlock2D(channels, channels, config.time_embed_dim(), config.norm_num_groups,
                           config.norm_eps);
    };
    first_ = resnet();
    attention_ = Transformer2DModel(
        channels,
        transformer_settings(config, channels, config.attention_heads.back(),
                             config.transformer_layers_per_block.back()),
        transformer_layer(UNetBlock::kMid, 0, 0), router);
    second_ = resnet();
    register_module("resnets", nn::ModuleList(first_, second_));
    register_module("attentions", nn::ModuleList(attention_));
  }

  torch::Tensor forward(const torch::Tensor& h, const torch::Tensor& temb, const torch::Tensor& context) {
    return second_(attention_(first_(h, temb), context), temb);
  }

 private:
  ResnetBlock2D first_{nullptr}, second_{nullptr};
  Transformer2DModel attention_{nullptr};
};

// CrossAttnUpBlock2D / UpBlock2D: layers_per_block + 1 resnets, each fed the concatenation
// of the running features and one skip from the down path (last skip first).
class UNetImpl::UpBlock : public nn::Module {
 public:
  UpBlock(const UNetConfig& config, int level, const std::shared_ptr<AttentionRouter>& router) {
    const int n = config.levels();
    const int mirror = n - 1 - level;  // the down level this up level mirrors
    const auto channels_at = [&](int down_level) { return config.block_out_channels[down_level]; };
    const int out = channels_at(mirror);
    const int prev_out = level == 0 ? channels_at(n - 1) : channels_at(mirror + 1);
    const int in = channels_at(std::max(mirror - 1, 0));
    const int count = config.layers_per_block + 1;
    nn::ModuleList resnets, attentions;
    for (int j = 0; j < count; ++j) {
      const int skip_channels = j == count - 1 ? in : out;
      const int resnet_in = j == 0 ? prev_out : out;
      resnets_.push_back(ResnetBlock2D(resnet_in + skip_channels, out, config.time_embed_dim(),
                                       config.norm_num_groups, config.norm_eps));
      resnets->push_back(resnets_.back());
      if (config.down_block_has_attention[mirror]) {
        attentions_.push_back(Transformer2DModel(
            out,
            transformer_settings(config, out, config.attention_heads[mirror],
                                 config.transformer_layers_per_block[mirror]),
            transformer_layer(UNetBlock::kUp, level, j), router));
        attentions->push_back(attentions_.back());
      }
    }
    register_module("resnets", resnets);
    if (!attentions_.empty()) register_module("attentions", attentions);
    if (level + 1 < n) {
      upsampler_ = Upsample2D(out);
      register_module("upsamplers", nn::ModuleList(upsampler_));
    }
  }

  torch::Tensor forward(torch::Tensor h, const torch::Tensor& temb, const torch::Tensor& context,
                        std::vector<torch::Tensor>& skips) {
    for (std::size_t j = 0; j < resnets_.size(); ++j) {
      h = torch::cat({h, skips.back()}, 1);
      skips.pop_back();
      h = resnets_[j](h, temb);
      if (!attentions_.empty()) h = attentions_[j](h, context);
    }
    if (!upsampler_.is_empty()) {
      // Upsample to the next skip's size, which also handles odd latent sizes.
      const auto& next = skips.back();
      h = upsampler_->forward(h, {next.size(2), next.size(3)});
    }
    return h;
  }

 private:
  std::vector<ResnetBlock2D> resnets_;
  std::vector<Transformer2DModel> attentions_;
  Upsample2D upsampler_{nullptr};
};

// ---- UNet ----

UNetImpl::UNetImpl(const UNetConfig& config)
    : config_(config), router_(std::make_shared<AttentionRouter>()) {
  config_.validate();
  const int base = config_.block_out_channels.front();
  conv_in_ = register_module("conv_in", nn::Conv2d(nn::Conv2dOptions(config_.in_channels, base, 3).padding(1)));
  time_embedding_ = register_module("time_embedding", TimestepEmbedding(base, config_.time_embed_dim()));
  if (config_.addition_embed_type == "text_time") {
    add_embedding_ = register_module(
        "add_embedding",
        TimestepEmbedding(config_.projection_class_embeddings_input_dim, config_.time_embed_dim()));
  }
  nn::ModuleList down_blocks, up_blocks;
  for (int level = 0; level < config_.levels(); ++level) {
    down_blocks_.push_back(std::make_shared<DownBlock>(config_, level, router_));
    down_blocks->push_back(down_blocks_.back());
  }
  register_module("down_blocks", down_blocks);
  mid_block_ = register_module("mid_block", std::make_shared<MidBlock>(config_, router_));
  for (int level = 0; level < config_.levels(); ++level) {
    up_blocks_.push_back(std::make_shared<UpBlock>(config_, level, router_));
    up_blocks->push_back(up_blocks_.back());
  }
  register_module("up_blocks", up_blocks);
  conv_norm_out_ = register_module(
      "conv_norm_out",
      nn::GroupNorm(nn::GroupNormOptions(config_.norm_num_groups, base).eps(config_.norm_eps)));
  conv_out_ = register_module("conv_out", nn::Conv2d(nn::Conv2dOptions(base, config_.out_channels, 3).padding(1)));
}

torch::Tensor UNetImpl::forward(const torch::Tensor& sample, const torch::Tensor& timestep,
                                const torch::Tensor& context, const attention::StepInfo& step,
                                const AddedConditions& added) {
  const auto batch = sample.size(0);
  const auto timesteps = timestep.dim() == 0 ? timestep.reshape({1}).expand({batch}) : timestep;
  auto temb = time_embedding_(
      timestep_embedding(timesteps, config_.block_out_channels.front(), config_.flip_sin_to_cos,
                         config_.freq_shift)
          .to(sample.dtype()));
  if (!add_embedding_.is_empty()) {
    if (!added.text_embeds.defined() || !added.time_ids.defined()) {
      throw core::RunError("this UNet (text_time addition embedding) needs text_embeds and time_ids");
    }
    const auto time_embeds =
        timestep_embedding(added.time_ids.flatten(), config_.addition_time_embed_dim,
                           config_.flip_sin_to_cos, config_.freq_shift)
            .reshape({batch, -1});
    temb = temb + add_embedding_(torch::cat({added.text_embeds, time_embeds.to(sample.dtype())}, -1));
  }

  router_->begin_forward(&step);
  struct EndForward {
    AttentionRouter& router;
    ~EndForward() { router.end_forward(); }
  } end_forward{*router_};

  auto h = conv_in_(sample);
  std::vector<torch::Tensor> skips{h};
  for (auto& block : down_blocks_) h = block->forward(h, temb, context, skips);
  h = mid_block_->forward(h, temb, context);
  for (auto& block : up_blocks_) h = block->forward(h, temb, context, skips);
  return conv_out_(torch::silu(conv_norm_out_(h)));
}

void UNetImpl::set_processor(std::shared_ptr<attention::Processor> processor) {
  router_->set_default(std::move(processor));
}

void UNetImpl::set_layer_processor(const std::string& name,
                                   std::shared_ptr<attention::Processor> processor) {
  router_->set_for_layer(name, std::move(processor));
}

std::vector<LayerId> UNetImpl::attention_layers() const {
  auto layers = router_->layers();
  for (std::size_t i = 0; i < layers.size(); ++i) layers[i].call_index = static_cast<int>(i);
  return layers;
}

}  // namespace dsbench::diffusion
