#include "pipeline/diffusion/network_loading.h"

#include <functional>
#include <map>
#include <optional>

#include "core/errors.h"
#include "core/safetensors.h"
#include "pipeline/diffusion/original_checkpoint_keys.h"

namespace dsbench::diffusion {

namespace fs = std::filesystem;

namespace {

UNetKeyLayout key_layout(const UNetConfig& config) {
  return UNetKeyLayout{config.layers_per_block, config.down_block_has_attention};
}

using KeyMapper = std::function<std::optional<std::string>(const std::string&)>;

torch::ScalarType scalar_type(core::safetensors::DType dtype, const std::string& where) {
  using core::safetensors::DType;
  switch (dtype) {
    case DType::kF32: return torch::kFloat32;
    case DType::kF16: return torch::kFloat16;
    case DType::kBF16: return torch::kBFloat16;
    case DType::kF64: return torch::kFloat64;
    default: break;
  }
  throw core::InputError(core::Location{where, 0, ""}, "floating-point weights (F32, F16, BF16, F64), got " +
                                                           core::safetensors::dtype_name(dtype));
}

// Shapes equal, or the file's is the model's with trailing 1s (1×1 conv → linear).
bool compatible(const std::vector<std::int64_t>& file, at::IntArrayRef model) {
  if (file.size() < model.size()) return false;
  for (std::size_t i = 0; i < file.size(); ++i) {
    const auto expected = i < model.size() ? model[i] : 1;
    if (file[i] != expected) return false;
  }
  return true;
}

std::string shape_text(at::IntArrayRef shape) {
  std::string text = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) text += (i ? "," : "") + std::to_string(shape[i]);
  return text + "]";
}

std::string listing(const std::string& what, const std::vector<std::string>& names) {
  if (names.empty()) return "";
  std::string text = std::to_string(names.size()) + " " + what + ": ";
  for (std::size_t i = 0; i < names.size() && i < 8; ++i) text += (i ? ", " : "") + names[i];
  if (names.size() > 8) text += ", ...";
  return text + "; ";
}

// transformers checkpoints carry position_ids as a tensor; it is not a parameter.
bool is_position_ids(const std::string& name) {
  return name.size() >= 12 && name.compare(name.size() - 12, 12, "position_ids") == 0;
}

// Copies the tensors that `map` assigns to `module` (names → parameter names; nullopt for
// tensors of other networks). Every parameter must be found with its shape and every
// mapped tensor must be a parameter; otherwise an InputError lists the names.
// `prefix`: the tensors of this network in the file (others are ignored); a tensor under
// it that `map` cannot place is unexpected.
void load_network(torch::nn::Module& module, const std::string& network, const core::safetensors::File& file,
                  const std::string& prefix, const KeyMapper& map) {
  auto parameters = module.named_parameters();
  std::map<std::string, const core::safetensors::TensorView*> found;
  std::vector<std::string> unexpected, missing, misshaped;
  for (const auto& name : file.names()) {
    if (name.compare(0, prefix.size(), prefix) != 0 || is_position_ids(name)) continue;
    const auto mapped = map(name);
    if (!mapped || !parameters.contains(*mapped)) {
      unexpected.push_back(name);
      continue;
    }
    found[*mapped] = &file.tensor(name);
  }
  for (const auto& item : parameters) {
    const auto at = found.find(item.key());
    if (at == found.end()) {
      missing.push_back(item.key());
    } else if (!compatible(at->second->shape, item.value().sizes())) {
      misshaped.push_back(at->second->name + " " + shape_text(at->second->shape) + " (model " +
                          shape_text(item.value().sizes()) + ")");
    }
  }
  if (!missing.empty() || !unexpected.empty() || !misshaped.empty()) {
    throw core::InputError(core::Location{file.path().string(), 0, network},
                           "weights matching the " + network + " architecture: " + listing("missing", missing) +
                               listing("unexpected", unexpected) + listing("mis-shaped", misshaped));
  }
  torch::NoGradGuard no_grad;
  for (auto& item : parameters) {
    const auto* view = found.at(item.key());
    const auto source = torch::from_blob(const_cast<std::uint8_t*>(view->data), view->shape,
                                         scalar_type(view->dtype, file.path().string() + ": " + view->name));
    item.value().copy_(source.to(torch::kFloat32).reshape(item.value().sizes()));
  }
}

std::optional<std::string> same_name(const std::string& name) { return name; }

}  // namespace

void load_unet_weights(UNetImpl& unet, const fs::path& file, WeightLayout layout) {
  const auto keys = key_layout(unet.config());
  const KeyMapper map = layout == WeightLayout::kOriginal
                            ? KeyMapper([&](const std::string& name) { return original_unet_key(name, keys); })
                            : KeyMapper(same_name);
  load_network(unet, "unet", core::safetensors::File::open(file),
               layout == WeightLayout::kOriginal ? kOriginalUNetPrefix : "", map);
}

void load_vae_weights(AutoencoderKLImpl& vae, const fs::path& file, WeightLayout layout) {
  const int levels = vae.config().levels();
  const KeyMapper map = layout == WeightLayout::kOriginal
                            ? KeyMapper([&](const std::string& name) { return original_vae_key(name, levels); })
                            : KeyMapper([](const std::string& name) { return same_name(modern_vae_key(name)); });
  load_network(vae, "vae", core::safetensors::File::open(file),
               layout == WeightLayout::kOriginal ? kOriginalVaePrefix : "", map);
}

void load_text_encoder_weights(torch::nn::Module& text_encoder, const fs::path& file, WeightLayout layout) {
  const KeyMapper map = layout == WeightLayout::kOriginal ? KeyMapper(original_text_encoder_key) : KeyMapper(same_name);
  load_network(text_encoder, "text_encoder", core::safetensors::File::open(file),
               layout == WeightLayout::kOriginal ? kOriginalTextPrefix : "", map);
}

}  // namespace dsbench::diffusion
