#pragma once
// DreamSim (Fu et al. 2023) in libtorch: ViT-B backbones run as DINO-style ViTs (the
// official code loads CLIP/OpenCLIP/SynCLR into DINO's module layout, DINOv2 from
// torch.hub), parameter names as in metrics/vit.h so converted checkpoints load by name.
// Features: DINO/DINOv2/SynCLR the CLS token of the last block before `norm`;
// CLIP/OpenCLIP norm(x)[CLS] @ proj. The ensemble concatenates dino | clip | open_clip
// (768+512+512). The *_patch models concatenate CLS with the mean of the patch tokens.
// Embeddings are returned raw, except the patch models' (see embed_pixels);
// metrics/distance.h applies the packaged normalisation.
#include <torch/torch.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/image.h"
#include "metrics/vit.h"

namespace dsbench::metrics {

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
// "clip_vitb32", "open_clip_vitb32", "dinov2_vitb14", "synclr_vitb16", "dino_vitb16_patch",
// "dinov2_vitb14_patch"; "tiny-<model>" is the same layout shrunk (width 32, depth 2, 2
// heads, projection 16) for tests and benchmarks.
std::vector<std::string> dreamsim_model_names();
// InputError naming the known models when `model` is unknown.
std::vector<BackboneSpec> dreamsim_backbones(const std::string& model);
// Version of the preprocessing below; part of the embedding cache key.
inline constexpr const char* kDreamSimPreprocessingVersion = "pil-bicubic-224-v1";

class DreamSim {
 public:
  // Weights: <dir>/<backbone name>.safetensors per backbone (scripts/convert_dreamsim.py
  // writes them with LoRA merged). Strict: InputError naming missing/mis-shaped keys, and
  // naming the model a file was converted for (its "dreamsim_model" metadata) when that is
  // another: the ensemble's DINO backbone carries the ensemble's LoRA, not dino_vitb16's.
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
  // Concatenated embeddings [B, embedding_size] of preprocessed pixels: raw, or for the
  // patch models each token mean-centred and L2-normalised, then CLS | mean of the patch
  // tokens, as the released model does. Both halves then have zero mean, so the packaged
  // distance (metrics/distance.h) of these is the model's plain cosine distance.
  torch::Tensor embed_pixels(const torch::Tensor& pixels) const;
  // preprocess + embed_pixels in batches of `batch_size`.
  torch::Tensor embed(const std::vector<core::Image>& images, int batch_size = 16) const;

 private:
  DreamSim(std::string model_id, const std::string& model);
  std::string model_id_;
  std::vector<BackboneSpec> specs_;
  std::vector<VisionTransformer> backbones_;
};

}  // namespace dsbench::metrics
