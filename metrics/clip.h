#pragma once
// CLIP (Radford et al. 2021) image and text towers for CLIP-T, the prompt-image score of
// torchmetrics' CLIPScore: 100 * max(cos(image embedding, text embedding), 0).
//
// The image tower is metrics::VisionTransformer (metrics/vit.h) with CLIP's layout
// (ln_pre, quick GELU, eps 1e-5, projection; the patch conv has no bias in CLIP, so ours
// stays zero); the text tower is diffusion::ClipTextModel pooled at the first end-of-text
// token, then text_projection (no bias). Embeddings are returned raw (not normalised).
#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/image.h"
#include "metrics/vit.h"
#include "pipeline/diffusion/clip_text_model.h"

namespace dsbench::metrics {

// {"clip_vitb16", "clip_vitb32", "clip_vitl14"}; "tiny-<name>" is the same layout shrunk
// (image width 32, depth 2, 2 heads; text width 32, 2 layers, 4 heads, MLP 64; projection
// 16) for tests and benchmarks.
std::vector<std::string> clip_model_names();

// Part of the embedding cache key of CLIP image embeddings.
inline constexpr const char* kClipPreprocessingVersion = "clip-pil-bicubic-short-side-centercrop-v1";

class Clip {
 public:
  // One safetensors file, Hugging Face CLIPModel keys (text_model.*, vision_model.*,
  // text_projection.weight, visual_projection.weight; logit_scale ignored) or the original
  // OpenAI state_dict keys (visual.*, transformer.*, token_embedding.weight,
  // positional_embedding, ln_final.*, text_projection, visual.proj) — detected from the keys.
  // Strict: InputError naming the file and any missing / mis-shaped key.
  // scripts/convert_clip.py writes such a file from an OpenAI .pt or an HF pytorch_model.bin.
  static Clip load(const std::string& model, const std::filesystem::path& weights_file);
  // Deterministic random weights (diffusion::init_seeded); the model id says "random" so
  // its embeddings never pass as real ones.
  static Clip random(const std::string& model, std::uint64_t seed);

  const std::string& model_id() const { return model_id_; }
  int embedding_size() const { return embedding_size_; }
  int image_size() const { return vision_config_.image_size; }

  // RGB; Pillow-exact bicubic resize so the SHORT side is image_size (long side
  // int(size*long/short), as torchvision Resize(int)), centre crop (torchvision CenterCrop
  // rounding), /255, CLIP mean/std normalisation -> [B,3,S,S].
  torch::Tensor preprocess(const std::vector<core::Image>& images) const;
  // [B,3,S,S] preprocessed pixels -> [B,E] raw projected embeddings.
  torch::Tensor embed_images(const torch::Tensor& pixels) const;
  // Texts tokenized to 77 ids (longer prompts keep bos + 75 tokens + eos) -> [B,E] raw
  // projected embeddings.
  torch::Tensor embed_texts(const std::vector<std::string>& texts) const;

 private:
  Clip(std::string model_id, const std::string& model);

  std::string model_id_;
  VitConfig vision_config_;
  diffusion::ClipTextConfig text_config_;
  int embedding_size_ = 0;
  VisionTransformer vision_{nullptr};
  diffusion::ClipTextModel text_{nullptr};
  torch::nn::Linear text_projection_{nullptr};
};

// 100 * max(cosine, 0); InputError on size mismatch, empty, zero-norm or non-finite input.
double clip_score(const std::vector<float>& image_embedding, const std::vector<float>& text_embedding);

}  // namespace dsbench::metrics
