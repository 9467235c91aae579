#include "metrics/aesthetic.h"

#include "core/errors.h"
#include "core/hashing.h"
#include "pipeline/diffusion/weights.h"

namespace dsbench::metrics {
namespace {

namespace fs = std::filesystem;

// Output widths of the published Linear layers, in order (input width first).
constexpr int kHiddenSizes[] = {1024, 128, 64, 16, 1};
constexpr double kDropouts[] = {0.2, 0.2, 0.1};
constexpr std::size_t kDigestChars = 12;

void check_input_size(int input_size) {
  if (input_size <= 0) {
    throw core::InputError(core::Location{"", 0, "metrics.aesthetic.input_size"},
                           "a positive CLIP embedding width (768 for clip_vitl14, 16 for tiny-clip_*), got " +
                               std::to_string(input_size));
  }
}

std::string id_prefix(int input_size) { return "laion_aesthetic_mlp-in" + std::to_string(input_size) + "-"; }

}  // namespace

AestheticPredictor::AestheticPredictor(std::string model_id, int input_size)
    : model_id_(std::move(model_id)), input_size_(input_size), network_(std::make_shared<torch::nn::Module>()) {
  // Same indices as the reference's nn.Sequential: Linear, Dropout, Linear, Dropout, Linear,
  // Dropout, Linear, Linear.
  torch::nn::Sequential layers;
  int width = input_size;
  for (std::size_t i = 0; i < std::size(kHiddenSizes); ++i) {
    layers->push_back(torch::nn::Linear(width, kHiddenSizes[i]));
    if (i < std::size(kDropouts)) layers->push_back(torch::nn::Dropout(kDropouts[i]));
    width = kHiddenSizes[i];
  }
  layers_ = network_->register_module("layers", layers);
  network_->eval();
}

AestheticPredictor AestheticPredictor::load(const fs::path& weights_file, int input_size) {
  check_input_size(input_size);
  if (!fs::is_regular_file(weights_file)) {
    throw core::InputError(core::Location{weights_file.string(), 0, ""},
                           "an aesthetic predictor weights file (safetensors; scripts/convert_aesthetic.py writes "
                           "one from sac+logos+ava1-l14-linearMSE.pth)");
  }
  const auto digest = core::sha256_file(weights_file).substr(0, kDigestChars);
  AestheticPredictor predictor(id_prefix(input_size) + "sha256-" + digest, input_size);
  diffusion::load_weights(*predictor.network_, {weights_file});  // strict: names every bad key
  return predictor;
}

AestheticPredictor AestheticPredictor::random(int input_size, std::uint64_t seed) {
  check_input_size(input_size);
  AestheticPredictor predictor(id_prefix(input_size) + "random-seed" + std::to_string(seed), input_size);
  diffusion::init_seeded(*predictor.network_, seed);
  return predictor;
}

torch::Tensor AestheticPredictor::score(const torch::Tensor& clip_image_embeddings) const {
  const auto& x = clip_image_embeddings;
  if (!x.defined() || x.dim() != 2 || x.size(1) != input_size_ || x.size(0) == 0 || !x.is_floating_point()) {
    throw core::InputError(core::Location{"", 0, "clip_image_embeddings"},
                           "a non-empty float batch of CLIP image embeddings [batch, " + std::to_string(input_size_) +
                               "], got " + (x.defined() ? c10::str(x.sizes(), " ", x.scalar_type()) : "none"));
  }
  torch::NoGradGuard no_grad;
  const auto embeddings = x.to(torch::kCPU, torch::kFloat32);
  if (!torch::isfinite(embeddings).all().item<bool>()) {
    throw core::InputError(core::Location{"", 0, "clip_image_embeddings"},
                           "finite CLIP image embeddings (a NaN or infinity would make every score NaN)");
  }
  // The reference's normalized(): divide by the L2 norm, a zero norm counting as 1.
  auto norms = embeddings.norm(2, 1, /*keepdim=*/true);
  norms.masked_fill_(norms == 0, 1.0);
  auto layers = layers_;  // a holder copy: forward() is not const
  return layers->forward(embeddings / norms).reshape({-1});
}

}  // namespace dsbench::metrics
