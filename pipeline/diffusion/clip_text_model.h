// The CLIP text transformer as in transformers' CLIPTextModel (SD1.5 uses ViT-L/14's):
// token + learned position embeddings (positions 0..L-1), pre-LN blocks with causal
// self-attention and a quick-GELU MLP, a final layer norm.
//
// Parameter names: the module registers one submodule "text_model", so named_parameters()
// yields exactly the Hugging Face state_dict keys, e.g.
//   text_model.embeddings.token_embedding.weight
//   text_model.encoder.layers.3.self_attn.q_proj.weight
//   text_model.final_layer_norm.bias
// A diffusers text_encoder/model.safetensors therefore loads with identical names; the
// original single-file checkpoint's "cond_stage_model.transformer." prefix is stripped by
// load_clip_text_weights (weights.h). transformers' position_ids buffer is not a
// parameter here (positions are computed), so files carrying it load fine.
#pragma once

#include <torch/torch.h>

#include <filesystem>

namespace dsbench::diffusion {

struct ClipTextConfig {
  int vocab_size = 49408;
  int hidden_size = 768;
  int layers = 12;
  int heads = 12;
  int intermediate_size = 3072;
  int max_positions = 77;
  double layer_norm_eps = 1e-5;
  bool quick_gelu = true;  // x * sigmoid(1.702 x); false: exact (erf) GELU

  static ClipTextConfig sd15();  // ViT-L/14 text tower, 123,060,480 parameters
  static ClipTextConfig tiny();  // hidden 32, 2 layers, 4 heads, MLP 64, same vocab and 77 positions
};

class ClipTextModelImpl : public torch::nn::Module {
 public:
  explicit ClipTextModelImpl(const ClipTextConfig& config);

  // input_ids [B, L] int64 (L <= max_positions) -> last_hidden_state [B, L, hidden] after
  // the final layer norm. InputError for a bad shape or out-of-range ids.
  torch::Tensor forward(const torch::Tensor& input_ids);
  // The hidden state `skip_last_layers` blocks before the last one, with the final layer
  // norm applied (the "CLIP skip" convention); skip_last_layers = 0 equals forward().
  torch::Tensor forward_hidden(const torch::Tensor& input_ids, int skip_last_layers);

  const ClipTextConfig& config() const { return config_; }

 private:
  struct Parts;
  ClipTextConfig config_;
  std::shared_ptr<Parts> parts_;
};

TORCH_MODULE(ClipTextModel);

}  // namespace dsbench::diffusion
