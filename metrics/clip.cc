#include "metrics/clip.h"

#include <algorithm>
#include <cfenv>
#include <cmath>
#include <map>
#include <set>

#include "core/errors.h"
#include "core/safetensors.h"
#include "metrics/checkpoint_reader.h"
#include "metrics/dreamsim.h"
#include "metrics/resize.h"
#include "pipeline/diffusion/clip_tokenizer.h"
#include "pipeline/diffusion/weights.h"

namespace dsbench::metrics {
namespace {

namespace fs = std::filesystem;
namespace st = core::safetensors;
using torch::indexing::Slice;

const std::string kTinyPrefix = "tiny-";

struct ClipSpec {
  VitConfig vision;
  diffusion::ClipTextConfig text;
  int embedding = 0;
};

VitConfig clip_vision(int patch, int width, int depth, int heads, int projection) {
  VitConfig config;
  config.patch = patch;
  config.width = width;
  config.depth = depth;
  config.heads = heads;
  config.eps = 1e-5;
  config.quick_gelu = true;
  config.pre_norm = true;
  config.projection = projection;
  config.feature = Feature::embedding;
  return config;
}

diffusion::ClipTextConfig clip_text(int width, int heads) {
  diffusion::ClipTextConfig config;
  config.hidden_size = width;
  config.heads = heads;
  config.layers = 12;
  config.intermediate_size = 4 * width;
  return config;
}

std::string known_models() {
  std::string list;
  for (const auto& name : clip_model_names()) list += (list.empty() ? "" : ", ") + name;
  return list;
}

ClipSpec clip_spec(const std::string& model) {
  const bool tiny = model.starts_with(kTinyPrefix);
  const std::string base = tiny ? model.substr(kTinyPrefix.size()) : model;
  ClipSpec spec;
  if (base == "clip_vitb16" || base == "clip_vitb32") {
    spec = {clip_vision(base == "clip_vitb16" ? 16 : 32, 768, 12, 12, 512), clip_text(512, 8), 512};
  } else if (base == "clip_vitl14") {
    spec = {clip_vision(14, 1024, 24, 16, 768), clip_text(768, 12), 768};
  } else {
    throw core::InputError(core::Location{"", 0, "metrics.clip.model"},
                           "unknown CLIP model '" + model + "'; expected one of " + known_models() +
                               " (or tiny-<name> for random test weights)");
  }
  if (tiny) {
    spec.vision = clip_vision(spec.vision.patch, 32, 2, 2, 16);
    spec.text = diffusion::ClipTextConfig::tiny();
    spec.embedding = 16;
  }
  return spec;
}

using Values = NamedValues;

// Not weights of the towers: the contrastive temperature, transformers' position id
// buffers, the hyper-parameters OpenAI's JIT archives keep in their state_dict.
bool ignored_key(const std::string& key) {
  return key == "logit_scale" || key.ends_with("position_ids") || key == "input_resolution" ||
         key == "context_length" || key == "vocab_size";
}

enum class Layout { hugging_face, openai };

Layout detect_layout(const st::File& file) {
  const auto names = file.names();
  const auto any = [&](auto predicate) { return std::any_of(names.begin(), names.end(), predicate); };
  const bool hf = any([](const std::string& k) { return k.starts_with("vision_model.") || k.starts_with("text_model."); });
  const bool openai = any([](const std::string& k) {
    return k.starts_with("visual.") || k.starts_with("transformer.resblocks.") || k == "token_embedding.weight";
  });
  if (hf != openai) return hf ? Layout::hugging_face : Layout::openai;
  throw core::InputError(core::Location{file.path().string(), 0, ""},
                         std::string("CLIP weights in one layout: Hugging Face CLIPModel keys (vision_model.*, "
                                     "text_model.*) or OpenAI state_dict keys (visual.*, transformer.*); found ") +
                             (hf ? "both" : "neither"));
}

// Vision tower values in VisionTransformer's names, from either layout.
Values vision_values(CheckpointReader& in, Layout layout, const VitConfig& c) {
  const std::int64_t w = c.width, grid = c.image_size / c.patch, tokens = grid * grid + 1;
  const std::int64_t hidden = static_cast<std::int64_t>(c.width) * c.mlp_ratio;
  const bool hf = layout == Layout::hugging_face;
  const std::string root = hf ? "vision_model." : "visual.";
  Values v;
  // Ours carry a batch dimension: cls_token [1,1,W], pos_embed [1,T,W].
  const auto reshaped = [](const torch::Tensor& t, std::vector<std::int64_t> shape) {
    return t.defined() ? t.reshape(shape) : t;
  };
  v["cls_token"] = reshaped(in.take(root + (hf ? "embeddings.class_embedding" : "class_embedding"), {w}), {1, 1, w});
  v["pos_embed"] = reshaped(
      in.take(root + (hf ? "embeddings.position_embedding.weight" : "positional_embedding"), {tokens, w}),
      {1, tokens, w});
  v["patch_embed.proj.weight"] =
      in.take(root + (hf ? "embeddings.patch_embedding.weight" : "conv1.weight"), {w, 3, c.patch, c.patch});
  v["patch_embed.proj.bias"] = torch::zeros({w});  // CLIP's patch conv has no bias
  const std::string pre = root + (hf ? "pre_layrnorm." : "ln_pre.");  // sic: transformers' spelling
  const std::string post = root + (hf ? "post_layernorm." : "ln_post.");
  v["pos_drop.weight"] = in.take(pre + "weight", {w});
  v["pos_drop.bias"] = in.take(pre + "bias", {w});
  v["norm.weight"] = in.take(post + "weight", {w});
  v["norm.bias"] = in.take(post + "bias", {w});
  for (int i = 0; i < c.depth; ++i) {
    const std::string ours = "blocks." + std::to_string(i) + ".";
    const std::string theirs = root + (hf ? "encoder.layers." : "transformer.resblocks.") + std::to_string(i) + ".";
    const auto copy = [&](const std::string& our_name, const std::string& key, std::vector<std::int64_t> shape) {
      v[ours + our_name] = in.take(theirs + key, shape);
    };
    copy("norm1.weight", hf ? "layer_norm1.weight" : "ln_1.weight", {w});
    copy("norm1.bias", hf ? "layer_norm1.bias" : "ln_1.bias", {w});
    copy("norm2.weight", hf ? "layer_norm2.weight" : "ln_2.weight", {w});
    copy("norm2.bias", hf ? "layer_norm2.bias" : "ln_2.bias", {w});
    copy("attn.proj.weight", hf ? "self_attn.out_proj.weight" : "attn.out_proj.weight", {w, w});
    copy("attn.proj.bias", hf ? "self_attn.out_proj.bias" : "attn.out_proj.bias", {w});
    copy("mlp.fc1.weight", hf ? "mlp.fc1.weight" : "mlp.c_fc.weight", {hidden, w});
    copy("mlp.fc1.bias", hf ? "mlp.fc1.bias" : "mlp.c_fc.bias", {hidden});
    copy("mlp.fc2.weight", hf ? "mlp.fc2.weight" : "mlp.c_proj.weight", {w, hidden});
    copy("mlp.fc2.bias", hf ? "mlp.fc2.bias" : "mlp.c_proj.bias", {w});
    if (hf) {
      // Our fused qkv is OpenAI's in_proj: q, k, v stacked along the output dimension.
      std::vector<torch::Tensor> weights, biases;
      for (const std::string part : {"q", "k", "v"}) {
        weights.push_back(in.take(theirs + "self_attn." + part + "_proj.weight", {w, w}));
        biases.push_back(in.take(theirs + "self_attn." + part + "_proj.bias", {w}));
      }
      const auto all_defined = [](const std::vector<torch::Tensor>& ts) {
        return std::all_of(ts.begin(), ts.end(), [](const torch::Tensor& t) { return t.defined(); });
      };
      v[ours + "attn.qkv.weight"] = all_defined(weights) ? torch::cat(weights, 0) : torch::Tensor();
      v[ours + "attn.qkv.bias"] = all_defined(biases) ? torch::cat(biases, 0) : torch::Tensor();
    } else {
      copy("attn.qkv.weight", "attn.in_proj_weight", {3 * w, w});
      copy("attn.qkv.bias", "attn.in_proj_bias", {3 * w});
    }
  }
  const std::int64_t e = c.projection;
  if (hf) {
    const auto projection = in.take("visual_projection.weight", {e, w});  // Linear [E, W]
    v["proj"] = projection.defined() ? projection.t().contiguous() : projection;
  } else {
    v["proj"] = in.take("visual.proj", {w, e});
  }
  return v;
}

// Text tower values in ClipTextModel's (= transformers') names, plus "projection.weight".
Values text_values(CheckpointReader& in, Layout layout, const diffusion::ClipTextConfig& c, int embedding) {
  const std::int64_t w = c.hidden_size, hidden = c.intermediate_size, e = embedding;
  Values v;
  if (layout == Layout::hugging_face) {
    // Same names as ClipTextModel; read every parameter with its own shape.
    diffusion::ClipTextModel shapes(c);
    for (const auto& item : shapes->named_parameters()) v[item.key()] = in.take(item.key(), item.value().sizes().vec());
    v["projection.weight"] = in.take("text_projection.weight", {e, w});
    return v;
  }
  v["text_model.embeddings.token_embedding.weight"] = in.take("token_embedding.weight", {c.vocab_size, w});
  v["text_model.embeddings.position_embedding.weight"] = in.take("positional_embedding", {c.max_positions, w});
  v["text_model.final_layer_norm.weight"] = in.take("ln_final.weight", {w});
  v["text_model.final_layer_norm.bias"] = in.take("ln_final.bias", {w});
  for (int i = 0; i < c.layers; ++i) {
    const std::string ours = "text_model.encoder.layers." + std::to_string(i) + ".";
    const std::string theirs = "transformer.resblocks." + std::to_string(i) + ".";
    const auto copy = [&](const std::string& our_name, const std::string& key, std::vector<std::int64_t> shape) {
      v[ours + our_name] = in.take(theirs + key, shape);
    };
    copy("layer_norm1.weight", "ln_1.weight", {w});
    copy("layer_norm1.bias", "ln_1.bias", {w});
    copy("layer_norm2.weight", "ln_2.weight", {w});
    copy("layer_norm2.bias", "ln_2.bias", {w});
    copy("self_attn.out_proj.weight", "attn.out_proj.weight", {w, w});
    copy("self_attn.out_proj.bias", "attn.out_proj.bias", {w});
    copy("mlp.fc1.weight", "mlp.c_fc.weight", {hidden, w});
    copy("mlp.fc1.bias", "mlp.c_fc.bias", {hidden});
    copy("mlp.fc2.weight", "mlp.c_proj.weight", {w, hidden});
    copy("mlp.fc2.bias", "mlp.c_proj.bias", {w});
    const auto in_weight = in.take(theirs + "attn.in_proj_weight", {3 * w, w});
    const auto in_bias = in.take(theirs + "attn.in_proj_bias", {3 * w});
    const char* parts[] = {"q", "k", "v"};
    for (int p = 0; p < 3; ++p) {
      const auto rows = Slice(p * w, (p + 1) * w);
      v[ours + "self_attn." + parts[p] + "_proj.weight"] =
          in_weight.defined() ? in_weight.index({rows}).contiguous() : torch::Tensor();
      v[ours + "self_attn." + parts[p] + "_proj.bias"] =
          in_bias.defined() ? in_bias.index({rows}).contiguous() : torch::Tensor();
    }
  }
  const auto projection = in.take("text_projection", {w, e});  // x @ text_projection
  v["projection.weight"] = projection.defined() ? projection.t().contiguous() : projection;
  return v;
}

// torchvision's CenterCrop offset: int(round((size - crop) / 2.0)) with Python's round,
// which breaks ties to even.
int centre_offset(int size, int crop) {
  const int saved = std::fegetround();
  std::fesetround(FE_TONEAREST);
  const int offset = static_cast<int>(std::nearbyint((size - crop) / 2.0));
  std::fesetround(saved);
  return offset;
}

// torchvision Resize(int): the short side becomes `size`, the long one int(size*long/short).
core::Image resize_short_side(const core::Image& rgb, int size) {
  const bool wide = rgb.width >= rgb.height;
  const int short_side = wide ? rgb.height : rgb.width, long_side = wide ? rgb.width : rgb.height;
  const int new_long = static_cast<int>(static_cast<double>(size) * long_side / short_side);
  const int width = wide ? new_long : size, height = wide ? size : new_long;
  if (width == rgb.width && height == rgb.height) return rgb;
  return resize_bicubic_pillow(rgb, width, height);
}

}  // namespace

std::vector<std::string> clip_model_names() { return {"clip_vitb16", "clip_vitb32", "clip_vitl14"}; }

Clip::Clip(std::string model_id, const std::string& model) : model_id_(std::move(model_id)) {
  const auto spec = clip_spec(model);
  vision_config_ = spec.vision;
  text_config_ = spec.text;
  embedding_size_ = spec.embedding;
  vision_ = VisionTransformer(vision_config_);
  text_ = diffusion::ClipTextModel(text_config_);
  text_projection_ = torch::nn::Linear(torch::nn::LinearOptions(text_config_.hidden_size, embedding_size_).bias(false));
  vision_->eval();
  text_->eval();
  text_projection_->eval();
}

Clip Clip::load(const std::string& model, const fs::path& weights_file) {
  Clip clip(model, model);
  if (!fs::is_regular_file(weights_file)) {
    throw core::InputError(core::Location{weights_file.string(), 0, ""},
                           "a CLIP weights file (safetensors; scripts/convert_clip.py writes one)");
  }
  CheckpointReader reader(weights_file, ignored_key);
  const auto layout = detect_layout(reader.file());
  const auto vision = vision_values(reader, layout, clip.vision_config_);
  const auto text = text_values(reader, layout, clip.text_config_, clip.embedding_size_);
  reader.finish(std::string("CLIP weights (") + (layout == Layout::hugging_face ? "Hugging Face" : "OpenAI") +
                " layout) with the keys and shapes of " + model);
  assign_parameters(*clip.vision_, vision);
  assign_parameters(*clip.text_, text);
  assign_parameters(*clip.text_projection_, text, "projection.");
  return clip;
}

Clip Clip::random(const std::string& model, std::uint64_t seed) {
  Clip clip(model + "-random-seed" + std::to_string(seed), model);
  diffusion::init_seeded(*clip.vision_, seed);
  diffusion::init_seeded(*clip.text_, seed + 1);
  diffusion::init_seeded(*clip.text_projection_, seed + 2);
  torch::NoGradGuard no_grad;
  clip.vision_->named_parameters()["patch_embed.proj.bias"].zero_();
  return clip;
}

torch::Tensor Clip::preprocess(const std::vector<core::Image>& images) const {
  const int size = vision_config_.image_size;
  const auto n = clip_normalisation();
  const auto mean = torch::tensor({n.mean[0], n.mean[1], n.mean[2]}).view({3, 1, 1});
  const auto std = torch::tensor({n.std[0], n.std[1], n.std[2]}).view({3, 1, 1});
  auto pixels = torch::empty({static_cast<long>(images.size()), 3, size, size});
  for (std::size_t i = 0; i < images.size(); ++i) {
    if (images[i].empty() || images[i].width <= 0 || images[i].height <= 0) {
      throw core::InputError(core::Location{"", 0, "image " + std::to_string(i)}, "a non-empty image to score");
    }
    const auto resized = resize_short_side(to_rgb(images[i]), size);
    const int top = centre_offset(resized.height, size), left = centre_offset(resized.width, size);
    const auto hwc = torch::from_blob(const_cast<std::uint8_t*>(resized.pixels.data()),
                                      {resized.height, resized.width, 3}, torch::kUInt8);
    const auto crop = hwc.index({Slice(top, top + size), Slice(left, left + size)});
    pixels[static_cast<long>(i)] = (crop.permute({2, 0, 1}).to(torch::kFloat32) / 255.0 - mean) / std;
  }
  return pixels;
}

torch::Tensor Clip::embed_images(const torch::Tensor& pixels) const {
  const int size = vision_config_.image_size;
  if (pixels.dim() != 4 || pixels.size(1) != 3 || pixels.size(2) != size || pixels.size(3) != size ||
      !pixels.is_floating_point()) {
    throw core::InputError(core::Location{"", 0, "pixels"},
                           "preprocessed float pixels of shape [batch, 3, " + std::to_string(size) + ", " +
                               std::to_string(size) + "], got " + c10::str(pixels.sizes()));
  }
  torch::NoGradGuard no_grad;
  auto vision = vision_;  // a holder copy: forward() is not const
  return vision->forward(pixels.to(torch::kFloat32));
}

torch::Tensor Clip::embed_texts(const std::vector<std::string>& texts) const {
  if (texts.empty()) return torch::empty({0, embedding_size_});
  const auto& tokenizer = diffusion::ClipTokenizer::instance();
  const int length = text_config_.max_positions;
  auto ids = torch::empty({static_cast<long>(texts.size()), length}, torch::kInt64);
  std::vector<long> end_positions;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    const auto encoded = tokenizer.encode_padded(texts[i], length);
    // Padding repeats the end token; the first one ends the prompt (OpenAI's argmax over
    // ids finds the same place since the end token is the largest id).
    const auto end = std::find(encoded.begin(), encoded.end(), diffusion::ClipTokenizer::kEndToken);
    end_positions.push_back(static_cast<long>(end - encoded.begin()));
    ids[static_cast<long>(i)] = torch::tensor(std::vector<std::int64_t>(encoded.begin(), encoded.end()));
  }
  torch::NoGradGuard no_grad;
  auto text = text_;
  auto projection = text_projection_;
  const auto hidden = text->forward(ids);
  const auto rows = torch::arange(static_cast<long>(texts.size()), torch::kInt64);
  const auto pooled = hidden.index({rows, torch::tensor(end_positions, torch::kInt64)});
  return projection->forward(pooled);
}

double clip_score(const std::vector<float>& image_embedding, const std::vector<float>& text_embedding) {
  if (image_embedding.empty() || image_embedding.size() != text_embedding.size()) {
    throw core::InputError(core::Location{"", 0, "clip_score"},
                           "two non-empty embeddings of the same size, got " + std::to_string(image_embedding.size()) +
                               " and " + std::to_string(text_embedding.size()));
  }
  double dot = 0, image_norm = 0, text_norm = 0;
  for (std::size_t i = 0; i < image_embedding.size(); ++i) {
    dot += static_cast<double>(image_embedding[i]) * text_embedding[i];
    image_norm += static_cast<double>(image_embedding[i]) * image_embedding[i];
    text_norm += static_cast<double>(text_embedding[i]) * text_embedding[i];
  }
  if (!std::isfinite(dot) || !std::isfinite(image_norm) || !std::isfinite(text_norm) || image_norm == 0 ||
      text_norm == 0) {
    throw core::InputError(core::Location{"", 0, "clip_score"},
                           "finite embeddings with a non-zero norm (the cosine is undefined otherwise)");
  }
  const double cosine = dot / (std::sqrt(image_norm) * std::sqrt(text_norm));
  return 100.0 * std::max(cosine, 0.0);
}

}  // namespace dsbench::metrics
