#include "metrics/dinov2.h"

#include <algorithm>

#include "core/errors.h"
#include "metrics/checkpoint_reader.h"
#include "metrics/dreamsim.h"
#include "metrics/resize.h"
#include "pipeline/diffusion/weights.h"

namespace dsbench::metrics {
namespace {

namespace fs = std::filesystem;
using torch::indexing::Slice;

const std::string kTinyPrefix = "tiny-";
constexpr int kResizeShortSide = 256;

VitConfig config_of(const std::string& model) {
  const bool tiny = model.starts_with(kTinyPrefix);
  const std::string base = tiny ? model.substr(kTinyPrefix.size()) : model;
  const auto known = dinov2_model_names();
  if (std::find(known.begin(), known.end(), base) == known.end()) {
    throw core::InputError(core::Location{"", 0, "evaluation.dino_model"},
                           "unknown DINOv2 model '" + model + "'; expected dinov2_vitb14 (or tiny-dinov2_vitb14)");
  }
  VitConfig config = dinov2_vit_config();
  config.feature = Feature::mean_token;
  config.interpolation = PositionInterpolation::size;
  return tiny ? tiny_vit_config(config) : config;
}

enum class Layout { hugging_face, hub };

Layout detect_layout(const CheckpointReader& in) {
  if (in.contains("embeddings.cls_token")) return Layout::hugging_face;
  if (in.contains("cls_token")) return Layout::hub;
  throw core::InputError(core::Location{in.file().path().string(), 0, ""},
                         "DINOv2 weights in the Hugging Face Dinov2Model layout (embeddings.cls_token, "
                         "encoder.layer.N.*) or the torch.hub layout (cls_token, blocks.N.*); found neither");
}

// The Hugging Face names of our parameters; q, k and v are fused into our qkv.
NamedValues hugging_face_values(CheckpointReader& in, const VitConfig& c) {
  const std::int64_t w = c.width, hidden = std::int64_t{c.width} * c.mlp_ratio, grid = c.stored_grid();
  NamedValues v;
  v["cls_token"] = in.take("embeddings.cls_token", {1, 1, w});
  v["pos_embed"] = in.take("embeddings.position_embeddings", {1, 1 + grid * grid, w});
  v["patch_embed.proj.weight"] = in.take("embeddings.patch_embeddings.projection.weight", {w, 3, c.patch, c.patch});
  v["patch_embed.proj.bias"] = in.take("embeddings.patch_embeddings.projection.bias", {w});
  v["norm.weight"] = in.take("layernorm.weight", {w});
  v["norm.bias"] = in.take("layernorm.bias", {w});
  for (int i = 0; i < c.depth; ++i) {
    const std::string ours = "blocks." + std::to_string(i) + ".", theirs = "encoder.layer." + std::to_string(i) + ".";
    const auto copy = [&](const std::string& our_name, const std::string& key, std::vector<std::int64_t> shape) {
      v[ours + our_name] = in.take(theirs + key, shape);
    };
    for (const std::string norm : {"norm1", "norm2"}) {
      copy(norm + ".weight", norm + ".weight", {w});
      copy(norm + ".bias", norm + ".bias", {w});
    }
    copy("attn.proj.weight", "attention.output.dense.weight", {w, w});
    copy("attn.proj.bias", "attention.output.dense.bias", {w});
    copy("ls1.gamma", "layer_scale1.lambda1", {w});
    copy("ls2.gamma", "layer_scale2.lambda1", {w});
    copy("mlp.fc1.weight", "mlp.fc1.weight", {hidden, w});
    copy("mlp.fc1.bias", "mlp.fc1.bias", {hidden});
    copy("mlp.fc2.weight", "mlp.fc2.weight", {w, hidden});
    copy("mlp.fc2.bias", "mlp.fc2.bias", {w});
    std::vector<torch::Tensor> weights, biases;
    for (const std::string part : {"query", "key", "value"}) {
      weights.push_back(in.take(theirs + "attention.attention." + part + ".weight", {w, w}));
      biases.push_back(in.take(theirs + "attention.attention." + part + ".bias", {w}));
    }
    const auto fused = [](const std::vector<torch::Tensor>& parts) {
      const bool complete = std::all_of(parts.begin(), parts.end(), [](const torch::Tensor& t) { return t.defined(); });
      return complete ? torch::cat(parts, 0) : torch::Tensor();
    };
    v[ours + "attn.qkv.weight"] = fused(weights);
    v[ours + "attn.qkv.bias"] = fused(biases);
  }
  return v;
}

// The torch.hub layout is ours: every parameter by its own name and shape.
NamedValues hub_values(CheckpointReader& in, VisionTransformerImpl& shapes) {
  NamedValues v;
  for (const auto& item : shapes.named_parameters()) v[item.key()] = in.take(item.key(), item.value().sizes().vec());
  return v;
}

// Not weights of the feature network: the masked-token embedding of DINOv2's training.
bool ignored_key(const std::string& key) { return key == "mask_token" || key == "embeddings.mask_token"; }

// BitImageProcessor's centre crop: floor division, so an odd margin leaves the extra
// column on the right (torchvision rounds half to even instead).
int floor_centre_offset(int size, int crop) { return (size - crop) / 2; }

core::Image resize_short_side(const core::Image& rgb, int size) {
  const bool wide = rgb.width > rgb.height;
  const int short_side = wide ? rgb.height : rgb.width, long_side = wide ? rgb.width : rgb.height;
  const int new_long = static_cast<int>(static_cast<double>(size) * long_side / short_side);
  const int width = wide ? new_long : size, height = wide ? size : new_long;
  return resize_bicubic_pillow(rgb, width, height);
}

}  // namespace

std::vector<std::string> dinov2_model_names() { return {"dinov2_vitb14"}; }

Dinov2::Dinov2(std::string model_id, const std::string& model)
    : model_id_(std::move(model_id)), config_(config_of(model)), network_(config_) {
  network_->eval();
}

Dinov2 Dinov2::load(const std::string& model, const fs::path& weights_file) {
  Dinov2 dinov2("dinov2-" + model, model);
  if (!fs::is_regular_file(weights_file)) {
    throw core::InputError(core::Location{weights_file.string(), 0, "evaluation.dino_weights"},
                           "a DINOv2 weights file (safetensors: a Hugging Face model.safetensors, or "
                           "scripts/convert_dinov2.py's output)");
  }
  CheckpointReader reader(weights_file, ignored_key);
  const auto layout = detect_layout(reader);
  const auto values = layout == Layout::hugging_face ? hugging_face_values(reader, dinov2.config_)
                                                     : hub_values(reader, *dinov2.network_);
  reader.finish(std::string("DINOv2 weights (") + (layout == Layout::hugging_face ? "Hugging Face" : "torch.hub") +
                " layout) with the keys and shapes of " + model);
  assign_parameters(*dinov2.network_, values);
  return dinov2;
}

Dinov2 Dinov2::random(const std::string& model, std::uint64_t seed) {
  Dinov2 dinov2("dinov2-" + model + "-random-seed" + std::to_string(seed), model);
  diffusion::init_seeded(*dinov2.network_, seed);
  return dinov2;
}

torch::Tensor Dinov2::preprocess(const std::vector<core::Image>& images) const {
  const int size = config_.image_size;
  const auto n = imagenet_normalisation();
  const auto mean = torch::tensor({n.mean[0], n.mean[1], n.mean[2]}).view({3, 1, 1});
  const auto std = torch::tensor({n.std[0], n.std[1], n.std[2]}).view({3, 1, 1});
  auto pixels = torch::empty({static_cast<long>(images.size()), 3, size, size});
  for (std::size_t i = 0; i < images.size(); ++i) {
    if (images[i].empty() || images[i].width <= 0 || images[i].height <= 0) {
      throw core::InputError(core::Location{"", 0, "image " + std::to_string(i)}, "a non-empty image to embed");
    }
    const auto resized = resize_short_side(to_rgb(images[i]), kResizeShortSide);
    const int top = floor_centre_offset(resized.height, size), left = floor_centre_offset(resized.width, size);
    const auto hwc = torch::from_blob(const_cast<std::uint8_t*>(resized.pixels.data()),
                                      {resized.height, resized.width, 3}, torch::kUInt8);
    const auto crop = hwc.index({Slice(top, top + size), Slice(left, left + size)});
    pixels[static_cast<long>(i)] = (crop.permute({2, 0, 1}).to(torch::kFloat32) / 255.0 - mean) / std;
  }
  return pixels;
}

torch::Tensor Dinov2::embed_pixels(const torch::Tensor& pixels) const {
  const int size = config_.image_size;
  if (pixels.dim() != 4 || pixels.size(1) != 3 || pixels.size(2) != size || pixels.size(3) != size ||
      !pixels.is_floating_point()) {
    throw core::InputError(core::Location{"", 0, "pixels"},
                           "preprocessed float pixels of shape [batch, 3, " + std::to_string(size) + ", " +
                               std::to_string(size) + "], got " + c10::str(pixels.sizes()));
  }
  torch::NoGradGuard no_grad;
  auto network = network_;  // a holder copy: forward() is not const
  return network->forward(pixels.to(torch::kFloat32));
}

}  // namespace dsbench::metrics
