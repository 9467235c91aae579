#include "pipeline/diffusion/clip_text_model.h"

#include "core/errors.h"

namespace dsbench::diffusion {

namespace nn = torch::nn;

ClipTextConfig ClipTextConfig::sd15() { return ClipTextConfig{}; }

ClipTextConfig ClipTextConfig::tiny() {
  ClipTextConfig config;
  config.hidden_size = 32;
  config.layers = 2;
  config.heads = 4;
  config.intermediate_size = 64;
  return config;
}

namespace {

// Module types whose only job is to give the parameters transformers' names.
struct EmbeddingsImpl : nn::Module {
  EmbeddingsImpl(const ClipTextConfig& config)
      : token_embedding(register_module("token_embedding", nn::Embedding(config.vocab_size, config.hidden_size))),
        position_embedding(
            register_module("position_embedding", nn::Embedding(config.max_positions, config.hidden_size))) {}

  torch::Tensor forward(const torch::Tensor& input_ids) {
    const auto positions = torch::arange(input_ids.size(1), torch::kInt64);
    return token_embedding(input_ids) + position_embedding(positions).unsqueeze(0);
  }

  nn::Embedding token_embedding;
  nn::Embedding position_embedding;
};
TORCH_MODULE(Embeddings);

struct AttentionImpl : nn::Module {
  AttentionImpl(const ClipTextConfig& config)
      : heads(config.heads),
        q_proj(register_module("q_proj", nn::Linear(config.hidden_size, config.hidden_size))),
        k_proj(register_module("k_proj", nn::Linear(config.hidden_size, config.hidden_size))),
        v_proj(register_module("v_proj", nn::Linear(config.hidden_size, config.hidden_size))),
        out_proj(register_module("out_proj", nn::Linear(config.hidden_size, config.hidden_size))) {}

  // x [B, L, D]; causal_mask [L, L] with -inf above the diagonal.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& causal_mask) {
    const auto batch = x.size(0), length = x.size(1), width = x.size(2);
    const auto head_dim = width / heads;
    const auto split = [&](const torch::Tensor& t) { return t.view({batch, length, heads, head_dim}).transpose(1, 2); };
    const auto q = split(q_proj(x) * (1.0 / std::sqrt(static_cast<double>(head_dim))));
    const auto k = split(k_proj(x));
    const auto v = split(v_proj(x));
    const auto weights = torch::softmax(torch::matmul(q, k.transpose(-1, -2)) + causal_mask, -1);
    const auto mixed = torch::matmul(weights, v).transpose(1, 2).reshape({batch, length, width});
    return out_proj(mixed);
  }

  int64_t heads;
  nn::Linear q_proj, k_proj, v_proj, out_proj;
};
TORCH_MODULE(Attention);

struct MlpImpl : nn::Module {
  MlpImpl(const ClipTextConfig& config)
      : quick_gelu(config.quick_gelu),
        fc1(register_module("fc1", nn::Linear(config.hidden_size, config.intermediate_size))),
        fc2(register_module("fc2", nn::Linear(config.intermediate_size, config.hidden_size))) {}

  torch::Tensor forward(const torch::Tensor& x) {
    auto hidden = fc1(x);
    hidden = quick_gelu ? hidden * torch::sigmoid(1.702 * hidden) : torch::gelu(hidden);
    return fc2(hidden);
  }

  bool quick_gelu;
  nn::Linear fc1, fc2;
};
TORCH_MODULE(Mlp);

struct EncoderLayerImpl : nn::Module {
  EncoderLayerImpl(const ClipTextConfig& config)
      : self_attn(register_module("self_attn", Attention(config))),
        layer_norm1(register_module("layer_norm1", nn::LayerNorm(layer_norm_options(config)))),
        mlp(register_module("mlp", Mlp(config))),
        layer_norm2(register_module("layer_norm2", nn::LayerNorm(layer_norm_options(config)))) {}

  static nn::LayerNormOptions layer_norm_options(const ClipTextConfig& config) {
    return nn::LayerNormOptions({config.hidden_size}).eps(config.layer_norm_eps);
  }

  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& causal_mask) {
    const auto attended = x + self_attn(layer_norm1(x), causal_mask);
    return attended + mlp(layer_norm2(attended));
  }

  Attention self_attn;
  nn::LayerNorm layer_norm1;
  Mlp mlp;
  nn::LayerNorm layer_norm2;
};
TORCH_MODULE(EncoderLayer);

struct EncoderImpl : nn::Module {
  EncoderImpl(const ClipTextConfig& config) : layers(register_module("layers", nn::ModuleList())) {
    for (int i = 0; i < config.layers; ++i) layers->push_back(EncoderLayer(config));
  }
  nn::ModuleList layers;
};
TORCH_MODULE(Encoder);

struct TextTransformerImpl : nn::Module {
  TextTransformerImpl(const ClipTextConfig& config)
      : embeddings(register_module("embeddings", Embeddings(config))),
        encoder(register_module("encoder", Encoder(config))),
        final_layer_norm(register_module("final_layer_norm",
                                         nn::LayerNorm(EncoderLayerImpl::layer_norm_options(config)))) {}

  Embeddings embeddings;
  Encoder encoder;
  nn::LayerNorm final_layer_norm;
};
TORCH_MODULE(TextTransformer);

void check_config(const ClipTextConfig& config) {
  const bool positive = config.vocab_size > 0 && config.hidden_size > 0 && config.layers > 0 && config.heads > 0 &&
                        config.intermediate_size > 0 && config.max_positions > 0;
  if (!positive || config.hidden_size % config.heads != 0) {
    throw core::InputError(core::Location{"", 0, "text_encoder"},
                           "a CLIP text configuration with positive sizes and hidden_size divisible by heads "
                           "(got hidden " + std::to_string(config.hidden_size) + ", heads " +
                               std::to_string(config.heads) + ")");
  }
}

}  // namespace

struct ClipTextModelImpl::Parts {
  TextTransformer text_model{nullptr};
};

ClipTextModelImpl::ClipTextModelImpl(const ClipTextConfig& config) : config_(config) {
  check_config(config_);
  parts_ = std::make_shared<Parts>();
  parts_->text_model = register_module("text_model", TextTransformer(config_));
}

torch::Tensor ClipTextModelImpl::forward(const torch::Tensor& input_ids) { return forward_hidden(input_ids, 0); }

torch::Tensor ClipTextModelImpl::forward_hidden(const torch::Tensor& input_ids, int skip_last_layers) {
  if (input_ids.dim() != 2 || input_ids.size(1) < 1 || input_ids.size(1) > config_.max_positions ||
      !(input_ids.scalar_type() == torch::kInt64 || input_ids.scalar_type() == torch::kInt32)) {
    throw core::InputError(core::Location{"", 0, "input_ids"},
                           "integer token ids of shape [batch, length] with 1 <= length <= " +
                               std::to_string(config_.max_positions) + ", got shape " +
                               c10::str(input_ids.sizes()));
  }
  if (skip_last_layers < 0 || skip_last_layers >= config_.layers) {
    throw core::InputError(core::Location{"", 0, "clip_skip"},
                           "between 0 and " + std::to_string(config_.layers - 1) + " skipped layers, got " +
                               std::to_string(skip_last_layers));
  }
  const auto ids = input_ids.to(torch::kInt64);
  if (ids.numel() > 0) {
    const auto low = ids.min().item<int64_t>(), high = ids.max().item<int64_t>();
    if (low < 0 || high >= config_.vocab_size) {
      throw core::InputError(core::Location{"", 0, "input_ids"},
                             "token ids in [0, " + std::to_string(config_.vocab_size) + "), got " +
                                 std::to_string(low < 0 ? low : high));
    }
  }
  auto& text = *parts_->text_model;
  auto hidden = text.embeddings(ids);
  const auto length = ids.size(1);
  // transformers' causal mask: position i attends to positions <= i.
  const auto causal_mask =
      torch::full({length, length}, -std::numeric_limits<float>::infinity(), hidden.options()).triu(1);
  const int run = config_.layers - skip_last_layers;
  for (int i = 0; i < run; ++i) {
    hidden = text.encoder->layers->at<EncoderLayerImpl>(i).forward(hidden, causal_mask);
  }
  return text.final_layer_norm(hidden);
}

}  // namespace dsbench::diffusion
