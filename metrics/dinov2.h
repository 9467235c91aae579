#pragma once
// DINOv2 (Oquab et al. 2023) image features for D&C-DINO, as MuDI computes them: the
// Hugging Face Dinov2Model (facebook/dinov2-base) run on BitImageProcessor pixels, its
// last_hidden_state (the final LayerNorm applied) averaged over every token, CLS included.
// The network is metrics::VisionTransformer with DINOv2's layout (layer scale, position
// grid 37 resized to the input's 16 as transformers resizes it).
#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/image.h"
#include "metrics/vit.h"

namespace dsbench::metrics {

// {"dinov2_vitb14"} (= facebook/dinov2-base); "tiny-dinov2_vitb14" is the same layout
// shrunk (width 32, depth 2, 2 heads; patch and position grid kept) with random weights.
std::vector<std::string> dinov2_model_names();

// Part of the embedding cache key of D&C-DINO embeddings.
inline constexpr const char* kDinov2PreprocessingVersion = "hf-bit-short256-floorcrop224-imagenet-v1";

class Dinov2 {
 public:
  // One safetensors file in the Hugging Face Dinov2Model layout (embeddings.*,
  // encoder.layer.N.*, layernorm.*: a hub model.safetensors loads as is) or the torch.hub
  // layout (cls_token, pos_embed, blocks.N.*, norm.*), detected from the keys; F16/F32.
  // Strict: InputError naming the file and every missing / mis-shaped / unexpected key.
  // scripts/convert_dinov2.py writes such a file from a .pth or pytorch_model.bin.
  static Dinov2 load(const std::string& model, const std::filesystem::path& weights_file);
  // Deterministic random weights; the model id says "random".
  static Dinov2 random(const std::string& model, std::uint64_t seed);

  const std::string& model_id() const { return model_id_; }
  int embedding_size() const { return config_.width; }
  VisionTransformer network() const { return network_; }

  // BitImageProcessor: RGB; Pillow-exact bicubic resize of the short side to 256 (long side
  // int(256*long/short)); centre crop 224 at ((H-224)//2, (W-224)//2) (floor, unlike
  // torchvision's rounding); /255; ImageNet mean/std -> [B,3,224,224].
  torch::Tensor preprocess(const std::vector<core::Image>& images) const;
  // [B,3,224,224] -> [B,W] mean-token features (raw; D&C compares them by cosine).
  torch::Tensor embed_pixels(const torch::Tensor& pixels) const;

 private:
  Dinov2(std::string model_id, const std::string& model);
  std::string model_id_;
  VitConfig config_;
  VisionTransformer network_{nullptr};
};

}  // namespace dsbench::metrics
