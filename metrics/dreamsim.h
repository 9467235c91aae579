#pragma once
// DreamSim (Fu et al. 2023) in libtorch: ViT-B backbones run as DINO-style ViTs (the
// official code loads CLIP/OpenCLIP into DINO's module layout), parameter names as in
// DINO's vision_transformer.py so converted checkpoints load by name:
//   cls_token [1,1,W]  pos_embed [1,1+P,W]  patch_embed.proj.{weight,bias}
//   pos_drop.{weight,bias}            (CLIP/OpenCLIP only: ln_pre sits where DINO drops out)
//   blocks.N.norm1/attn.qkv/attn.proj/norm2/mlp.fc1/mlp.fc2.{weight,bias}
//   norm.{weight,bias}  proj [W,E]    (proj: CLIP/OpenCLIP only)
// Features: DINO the CLS token of the last block before `norm`; CLIP/OpenCLIP
// norm(x)[CLS] @ proj. The ensemble concatenates dino | clip | open_clip (768+512+512).
// Embeddings are returned raw; metrics/distance.h applies the packaged normalisation.
#include <torch/torch.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/image.h"

namespace dsbench::metrics {

enum class Feature { cls, embedding };

struct VitConfig {
  int image_size = 224;
  int patch = 16;
  int width = 768;
  int depth = 12;
  int heads = 12;
  int mlp_ratio = 4;
  double eps = 1e-6;        // DINO 1e-6; CLIP/OpenCLIP 1e-5
  bool quick_gelu = false;  // CLIP/OpenCLIP: x * sigmoid(1.702 x)
  bool pre_norm = false;    // CLIP/OpenCLIP ln_pre (named pos_drop)
  int projection = 0;       // output width of `proj`; 0 = none
  Feature feature = Feature::cls;
  int feature_size() const { return feature == Feature::cls ? width : projection; }
};

class VisionTransformerImpl : public torch::nn::Module {
 public:
  explicit VisionTransformerImpl(const VitConfig& config);
  // x: [B, 3, S, S] normalised pixels -> [B, feature_size]
  torch::Tensor forward(const torch::Tensor& x);
  const VitConfig& config() const { return config_; }

 private:
  struct Block {
    torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
    torch::nn::Linear qkv{nullptr}, attn_proj{nullptr}, fc1{nullptr}, fc2{nullptr};
  };
  torch::Tensor block_forward(Block block, torch::Tensor x) const;

  VitConfig config_;
  torch::nn::Conv2d patch_embed_{nullptr};
  torch::Tensor cls_token_, pos_embed_, proj_;
  torch::nn::LayerNorm pre_norm_{nullptr}, norm_{nullptr};
  std::vector<Block> blocks_;
};
TORCH_MODULE(VisionTransformer);

struct Normalisation {
  std::array<float, 3> mean;
  std::array<float, 3> std;
};
Normalisation imagenet_normalisation();
Normalisation clip_normalisation();

struct BackboneSpec {
  std::string name;  // "dino_vitb16", "clip_vitb16", ... (also the weights file stem)
  VitConfig config;
  Normalisation normalisation;
};

// Known models: "ensemble", "dino_vitb16", "clip_vitb16", "open_clip_vitb16",
// "clip_vitb32", "open_clip_vitb32"; "tiny-<model>" is the same layout shrunk
// (width 32, depth 2, 2 heads, projection 16) for tests and benchmarks.
std::vector<std::string> dreamsim_model_names();
// InputError naming the known models when `model` is unknown.
std::vector<BackboneSpec> dreamsim_backbones(const std::string& model);

// Version of the preprocessing below; part of the embedding cache key.
inline constexpr const char* kDreamSimPreprocessingVersion = "pil-bicubic-224-v1";

class DreamSim {
 public:
  // Weights: <dir>/<backbone name>.safetensors per backbone (scripts/convert_dreamsim.py
  // writes them with LoRA merged). Strict: InputError naming missing/mis-shaped keys.
  static DreamSim load(const std::string& model, const std::filesystem::path& weights_dir);
  // Deterministic random weights (diffusion::init_seeded); any model name, "tiny-" ones
  // intended. The model id says "random" so its embeddings never pass as real ones.
  static DreamSim random(const std::string& model, std::uint64_t seed);

  const std::string& model_id() const { return model_id_; }
  int embedding_size() const;
  const std::vector<BackboneSpec>& backbones() const { return specs_; }
  VisionTransformer backbone(std::size_t index) const { return backbones_.at(index); }

  // [B, 3, S, S] in [0, 1]: RGB, Pillow bicubic resize to S x S (aspect squashed), / 255.
  torch::Tensor preprocess(const std::vector<core::Image>& images) const;
  // Raw concatenated embeddings [B, embedding_size] of preprocessed pixels.
  torch::Tensor embed_pixels(const torch::Tensor& pixels) const;
  // preprocess + embed_pixels in batches of `batch_size`.
  torch::Tensor embed(const std::vector<core::Image>& images, int batch_size = 16) const;

 private:
  DreamSim(std::string model_id, std::vector<BackboneSpec> specs);
  std::string model_id_;
  std::vector<BackboneSpec> specs_;
  std::vector<VisionTransformer> backbones_;
};

}  // namespace dsbench::metrics
