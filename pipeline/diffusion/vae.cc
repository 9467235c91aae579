#include "pipeline/diffusion/vae.h"

#include "core/errors.h"

namespace dsbench::diffusion {

namespace nn = torch::nn;

namespace {

nn::Conv2d conv(int in, int out, int kernel) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, kernel).padding(kernel / 2));
}

nn::GroupNorm group_norm(const VaeConfig& config, int channels) {
  return nn::GroupNorm(nn::GroupNormOptions(config.norm_num_groups, channels).eps(config.norm_eps));
}

ResnetBlock2D resnet(const VaeConfig& config, int in, int out) {
  return ResnetBlock2D(in, out, 0, config.norm_num_groups, config.norm_eps);
}

// diffusers' Attention as the VAE configures it: one head over all channels, group norm
// first, biased projections, residual connection.
class MidAttention : public nn::Module {
 public:
  MidAttention(const VaeConfig& config, int channels) {
    group_norm_ = register_module("group_norm", group_norm(config, channels));
    to_q_ = register_module("to_q", nn::Linear(channels, channels));
    to_k_ = register_module("to_k", nn::Linear(channels, channels));
    to_v_ = register_module("to_v", nn::Linear(channels, channels));
    to_out_ = nn::Linear(channels, channels);
    register_module("to_out", nn::ModuleList(to_out_));
  }

  torch::Tensor forward(const torch::Tensor& x) {
    const auto batch = x.size(0);
    const auto channels = x.size(1);
    const auto height = x.size(2);
    const auto width = x.size(3);
    const auto tokens = group_norm_(x).reshape({batch, channels, height * width}).transpose(1, 2);
    const auto attended = attention::multi_head_attention(to_q_(tokens), to_k_(tokens), to_v_(tokens), 1);
    const auto out = to_out_(attended).transpose(1, 2).reshape({batch, channels, height, width});
    return out + x;
  }

 private:
  nn::GroupNorm group_norm_{nullptr};
  nn::Linear to_q_{nullptr}, to_k_{nullptr}, to_v_{nullptr}, to_out_{nullptr};
};

// UNetMidBlock2D without time embedding: resnet, attention, resnet.
class MidBlock : public nn::Module {
 public:
  MidBlock(const VaeConfig& config, int channels) {
    first_ = resnet(config, channels, channels);
    attention_ = std::make_shared<MidAttention>(config, channels);
    second_ = resnet(config, channels, channels);
    register_module("resnets", nn::ModuleList(first_, second_));
    register_module("attentions", nn::ModuleList(attention_));
  }

  torch::Tensor forward(const torch::Tensor& x) { return second_->forward(attention_->forward(first_->forward(x))); }

 private:
  ResnetBlock2D first_{nullptr}, second_{nullptr};
  std::shared_ptr<MidAttention> attention_;
};

// DownEncoderBlock2D / UpDecoderBlock2D: resnets, then an optional resampler.
class ResampleBlock : public nn::Module {
 public:
  enum class Resample { kNone, kDown, kUp };

  ResampleBlock(const VaeConfig& config, int in, int out, int layers, Resample resample) {
    nn::ModuleList resnets;
    for (int j = 0; j < layers; ++j) {
      resnets_.push_back(resnet(config, j == 0 ? in : out, out));
      resnets->push_back(resnets_.back());
    }
    register_module("resnets", resnets);
    if (resample == Resample::kDown) {
      down_ = Downsample2D(out, 0);
      register_module("downsamplers", nn::ModuleList(down_));
    } else if (resample == Resample::kUp) {
      up_ = Upsample2D(out);
      register_module("upsamplers", nn::ModuleList(up_));
    }
  }

  torch::Tensor forward(torch::Tensor h) {
    for (auto& block : resnets_) h = block->forward(h);
    if (!down_.is_empty()) h = down_(h);
    if (!up_.is_empty()) h = up_->forward(h);
    return h;
  }

 private:
  std::vector<ResnetBlock2D> resnets_;
  Downsample2D down_{nullptr};
  Upsample2D up_{nullptr};
};

}  // namespace

VaeConfig VaeConfig::sd15() { return VaeConfig{}; }

VaeConfig VaeConfig::tiny() {
  VaeConfig config;
  config.block_out_channels = {32, 64, 64};
  config.layers_per_block = 1;
  return config;
}

void VaeConfig::validate() const {
  const auto fail = [](const std::string& field, const std::string& expectation) {
    throw core::InputError(core::Location{"", 0, "vae." + field}, expectation);
  };
  if (block_out_channels.empty()) fail("block_out_channels", "at least one level");
  for (const int channels : block_out_channels) {
    if (channels <= 0 || channels % norm_num_groups != 0) {
      fail("block_out_channels", "positive multiples of norm_num_groups");
    }
  }
  if (layers_per_block < 1) fail("layers_per_block", "at least 1");
  if (latent_channels < 1) fail("latent_channels", "at least 1");
}

class AutoencoderKLImpl::Encoder : public nn::Module {
 public:
  explicit Encoder(const VaeConfig& config) {
    const auto& channels = config.block_out_channels;
    conv_in_ = register_module("conv_in", conv(config.in_channels, channels.front(), 3));
    nn::ModuleList down_blocks;
    for (int i = 0; i < config.levels(); ++i) {
      const bool last = i + 1 == config.levels();
      blocks_.push_back(std::make_shared<ResampleBlock>(
          config, i == 0 ? channels.front() : channels[i - 1], channels[i], config.layers_per_block,
          last ? ResampleBlock::Resample::kNone : ResampleBlock::Resample::kDown));
      down_blocks->push_back(blocks_.back());
    }
    register_module("down_blocks", down_blocks);
    mid_ = register_module("mid_block", std::make_shared<MidBlock>(config, channels.back()));
    norm_out_ = register_module("conv_norm_out", group_norm(config, channels.back()));
    conv_out_ = register_module("conv_out", conv(channels.back(), 2 * config.latent_channels, 3));
  }

  torch::Tensor forward(const torch::Tensor& x) {
    auto h = conv_in_(x);
    for (auto& block : blocks_) h = block->forward(h);
    h = mid_->forward(h);
    return conv_out_(torch::silu(norm_out_(h)));
  }

 private:
  nn::Conv2d conv_in_{nullptr}, conv_out_{nullptr};
  std::vector<std::shared_ptr<ResampleBlock>> blocks_;
  std::shared_ptr<MidBlock> mid_;
  nn::GroupNorm norm_out_{nullptr};
};

class AutoencoderKLImpl::Decoder : public nn::Module {
 public:
  explicit Decoder(const VaeConfig& config) {
    const std::vector<int> reversed(config.block_out_channels.rbegin(), config.block_out_channels.rend());
    conv_in_ = register_module("conv_in", conv(config.latent_channels, reversed.front(), 3));
    mid_ = register_module("mid_block", std::make_shared<MidBlock>(config, reversed.front()));
    nn::ModuleList up_blocks;
    for (int i = 0; i < config.levels(); ++i) {
      const bool last = i + 1 == config.levels();
      blocks_.push_back(std::make_shared<ResampleBlock>(
          config, i == 0 ? reversed.front() : reversed[i - 1], reversed[i], config.layers_per_block + 1,
          last ? ResampleBlock::Resample::kNone : ResampleBlock::Resample::kUp));
      up_blocks->push_back(blocks_.back());
    }
    register_module("up_blocks", up_blocks);
    norm_out_ = register_module("conv_norm_out", group_norm(config, reversed.back()));
    conv_out_ = register_module("conv_out", conv(reversed.back(), config.out_channels, 3));
  }

  torch::Tensor forward(const torch::Tensor& z) {
    auto h = mid_->forward(conv_in_(z));
    for (auto& block : blocks_) h = block->forward(h);
    return conv_out_(torch::silu(norm_out_(h)));
  }

 private:
  nn::Conv2d conv_in_{nullptr}, conv_out_{nullptr};
  std::shared_ptr<MidBlock> mid_;
  std::vector<std::shared_ptr<ResampleBlock>> blocks_;
  nn::GroupNorm norm_out_{nullptr};
};

AutoencoderKLImpl::AutoencoderKLImpl(const VaeConfig& config) : config_(config) {
  config_.validate();
  encoder_ = register_module("encoder", std::make_shared<Encoder>(config_));
  decoder_ = register_module("decoder", std::make_shared<Decoder>(config_));
  const int moments = 2 * config_.latent_channels;
  quant_conv_ = register_module("quant_conv", conv(moments, moments, 1));
  post_quant_conv_ = register_module("post_quant_conv", conv(config_.latent_channels, config_.latent_channels, 1));
}

LatentDistribution AutoencoderKLImpl::encode(const torch::Tensor& images) {
  const auto moments = quant_conv_(encoder_->forward(images)).chunk(2, 1);
  // diffusers clamps the log-variance to [-30, 20] before using it.
  return {moments[0], torch::clamp(moments[1], -30.0, 20.0)};
}

torch::Tensor AutoencoderKLImpl::decode(const torch::Tensor& latents) {
  return decoder_->forward(post_quant_conv_(latents));
}

}  // namespace dsbench::diffusion
