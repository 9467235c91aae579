#pragma once
// The LAION "improved aesthetic predictor" (christophschuhmann/improved-aesthetic-predictor,
// simple_inference.py; weights sac+logos+ava1-l14-linearMSE.pth): an MLP on the
// L2-normalised CLIP ViT-L/14 image embedding, scores roughly 1..10 (higher = more
// aesthetic by the AVA / LAION-logos ratings it was trained on).
//
// Layers as published, kept under their nn.Sequential indices so the released state_dict
// loads by name: layers.0 Linear(in,1024), 1 Dropout(0.2), layers.2 Linear(1024,128),
// 3 Dropout(0.2), layers.4 Linear(128,64), 5 Dropout(0.1), layers.6 Linear(64,16),
// layers.7 Linear(16,1). No activations (the released "linearMSE" model is trained that
// way), dropout is inference-off, so the whole predictor is one affine map; the layers are
// kept only so the weights stay the released ones.
#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

namespace dsbench::metrics {

// The embedding width of clip_vitl14 (metrics::Clip("clip_vitl14").embedding_size()).
inline constexpr int kAestheticClipInputSize = 768;
// The hidden sizes are the published ones for every input size; the tiny test profile only
// narrows the input to the tiny-clip_* projection width (16).
inline constexpr int kAestheticTinyInputSize = 16;

class AestheticPredictor {
 public:
  // One safetensors file with exactly the keys layers.{0,2,4,6,7}.{weight,bias} in the
  // shapes above (any float dtype; F16/BF16/F64 become F32). scripts/convert_aesthetic.py
  // writes it from the released .pth. Strict: InputError naming the file and every
  // missing / mis-shaped / unexpected key. The model id names the input size and the
  // first 12 hex digits of the file's SHA-256, so cached scores follow the weights.
  static AestheticPredictor load(const std::filesystem::path& weights_file,
                                 int input_size = kAestheticClipInputSize);
  // Deterministic random weights (diffusion::init_seeded); the model id says "random" so
  // its scores never pass as real ones.
  static AestheticPredictor random(int input_size, std::uint64_t seed);

  const std::string& model_id() const { return model_id_; }
  int input_size() const { return input_size_; }

  // Raw CLIP image embeddings [B, input_size] (any float dtype) -> scores [B], float32.
  // Each row is divided by its L2 norm first, as the reference's normalized() does (a zero
  // row stays zero, as there). InputError on a wrong shape, an empty batch or non-finite
  // values.
  torch::Tensor score(const torch::Tensor& clip_image_embeddings) const;

 private:
  AestheticPredictor(std::string model_id, int input_size);

  std::string model_id_;
  int input_size_ = 0;
  // Registers the Sequential as "layers" so parameter names are the release's keys.
  std::shared_ptr<torch::nn::Module> network_;
  torch::nn::Sequential layers_{nullptr};
};

}  // namespace dsbench::metrics
