#include "pipeline/diffusion/weights.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>

#include "core/errors.h"
#include "core/hashing.h"
#include "pipeline/diffusion/clip_text_model.h"

namespace dsbench::diffusion {

namespace fs = std::filesystem;
namespace st = core::safetensors;

namespace {

constexpr std::size_t kListedNames = 10;

torch::ScalarType scalar_type(st::DType dtype) {
  switch (dtype) {
    case st::DType::kF64: return torch::kFloat64;
    case st::DType::kF32: return torch::kFloat32;
    case st::DType::kF16: return torch::kFloat16;
    case st::DType::kBF16: return torch::kBFloat16;
    case st::DType::kI64: return torch::kInt64;
    case st::DType::kI32: return torch::kInt32;
    case st::DType::kI16: return torch::kInt16;
    case st::DType::kI8: return torch::kInt8;
    case st::DType::kU8: return torch::kUInt8;
    case st::DType::kBool: return torch::kBool;
  }
  throw core::RunError("unknown safetensors dtype");
}

bool is_float(st::DType dtype) {
  return dtype == st::DType::kF64 || dtype == st::DType::kF32 || dtype == st::DType::kF16 ||
         dtype == st::DType::kBF16;
}

std::string shape_text(at::IntArrayRef shape) {
  std::string text = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) text += (i ? "," : "") + std::to_string(shape[i]);
  return text + "]";
}

std::string listing(const std::string& what, const std::vector<std::string>& names) {
  std::string text = std::to_string(names.size()) + " " + what + ": ";
  for (std::size_t i = 0; i < names.size() && i < kListedNames; ++i) text += (i ? ", " : "") + names[i];
  if (names.size() > kListedNames) text += ", ... (" + std::to_string(names.size() - kListedNames) + " more)";
  return text;
}

std::string file_list(const std::vector<fs::path>& files) {
  std::string text;
  for (const auto& file : files) text += (text.empty() ? "" : ", ") + file.string();
  return text;
}

// Parameters and buffers by name, as a state_dict.
std::map<std::string, torch::Tensor> state_tensors(torch::nn::Module& module) {
  std::map<std::string, torch::Tensor> tensors;
  for (const auto& item : module.named_parameters()) tensors.emplace(item.key(), item.value());
  for (const auto& item : module.named_buffers()) tensors.emplace(item.key(), item.value());
  return tensors;
}

std::string identity(const std::string& key) { return key; }

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool starts_with(const std::string& text, const std::string& prefix) { return text.rfind(prefix, 0) == 0; }

}  // namespace

std::string LoadReport::summary() const {
  if (ok()) return "all " + std::to_string(loaded.size()) + " tensors loaded";
  std::string text;
  for (const auto& [what, names] : {std::pair<std::string, const std::vector<std::string>*>{"missing", &missing},
                                    {"unexpected", &unexpected},
                                    {"mis-shaped", &mismatched}}) {
    if (names->empty()) continue;
    text += (text.empty() ? "" : "; ") + listing(what, *names);
  }
  return text;
}

torch::Tensor to_tensor(const st::TensorView& view, bool keep_dtype) {
  // Copy (not from_blob): the mapping may be unaligned for the element type and must not
  // outlive the File.
  auto tensor = torch::empty(view.shape, torch::TensorOptions().dtype(scalar_type(view.dtype)));
  if (static_cast<std::size_t>(tensor.nbytes()) != view.bytes) {
    throw core::InputError(core::Location{"", 0, view.name},
                           "a tensor of " + std::to_string(tensor.nbytes()) + " bytes for shape " +
                               shape_text(view.shape) + ", got " + std::to_string(view.bytes));
  }
  if (view.bytes > 0) std::memcpy(tensor.data_ptr(), view.data, view.bytes);
  if (!keep_dtype && is_float(view.dtype) && view.dtype != st::DType::kF32) tensor = tensor.to(torch::kFloat32);
  return tensor;
}

LoadReport load_weights(torch::nn::Module& module, const std::vector<fs::path>& files, const KeyMap& map,
                        bool strict) {
  if (files.empty()) throw core::InputError(core::Location{"", 0, "weights"}, "at least one safetensors file");
  const KeyMap& name_of = map ? map : KeyMap(identity);
  auto ours = state_tensors(module);
  std::vector<st::File> opened;
  opened.reserve(files.size());
  for (const auto& file : files) opened.push_back(st::File::open(file));

  LoadReport report;
  struct Source {
    const st::File* file;
    std::string key;
    const st::TensorView* view;  // null when mis-shaped
  };
  std::map<std::string, Source> sources;
  for (const auto& file : opened) {
    for (const auto& key : file.names()) {
      const auto name = name_of(key);
      if (name.empty()) continue;
      const auto& view = file.tensor(key);
      const auto at = ours.find(name);
      if (at == ours.end()) {
        report.unexpected.push_back(key);
        continue;
      }
      if (const auto previous = sources.find(name); previous != sources.end()) {
        throw core::InputError(core::Location{file.path().string(), 0, key},
                               "each tensor once, but " + name + " is also given by " +
                                   previous->second.file->path().string() + " (" + previous->second.key +
                                   ")");
      }
      const bool same_shape = at->second.sizes().vec() == view.shape;
      const bool compatible_type = is_float(view.dtype) == at->second.is_floating_point();
      if (!same_shape || !compatible_type) {
        report.mismatched.push_back(name + ": file " + shape_text(view.shape) +
                                    (compatible_type ? "" : " " + st::dtype_name(view.dtype)) + " vs model " +
                                    shape_text(at->second.sizes()));
        sources[name] = Source{&file, key, nullptr};
        continue;
      }
      sources[name] = Source{&file, key, &view};
    }
  }
  for (const auto& [name, tensor] : ours) {
    if (!sources.count(name)) report.missing.push_back(name);
  }
  if (strict && !report.ok()) {
    throw core::InputError(core::Location{file_list(files), 0, ""},
                           "weights matching the model's names and shapes: " + report.summary());
  }
  torch::NoGradGuard no_grad;
  for (const auto& [name, source] : sources) {
    if (source.view == nullptr) continue;
    auto& target = ours.at(name);
    target.copy_(to_tensor(*source.view, target.scalar_type() != torch::kFloat32));
    report.loaded.push_back(name);
  }
  return report;
}

void save_weights(torch::nn::Module& module, const fs::path& file, const KeyMap& rename) {
  std::map<std::string, st::OwnedTensor> tensors;
  for (const auto& [name, tensor] : state_tensors(module)) {
    const auto key = rename ? rename(name) : name;
    if (key.empty()) continue;
    const bool integral = !tensor.is_floating_point() && tensor.scalar_type() != torch::kBool;
    const auto data = (integral ? tensor.to(torch::kInt64) : tensor.to(torch::kFloat32)).contiguous().cpu();
    st::OwnedTensor owned;
    owned.dtype = integral ? st::DType::kI64 : st::DType::kF32;
    owned.shape = data.sizes().vec();
    const auto* bytes = static_cast<const std::uint8_t*>(data.data_ptr());
    owned.data.assign(bytes, bytes + data.nbytes());
    if (!tensors.emplace(key, std::move(owned)).second) {
      throw core::RunError("save_weights: two tensors renamed to " + key);
    }
  }
  st::write(file, tensors);
}

std::int64_t parameter_count(const torch::nn::Module& module) {
  std::int64_t count = 0;
  for (const auto& parameter : module.parameters()) count += parameter.numel();
  return count;
}

torch::Tensor seeded_normal(std::vector<int64_t> shape, std::uint64_t seed) {
  // The generator is private to this call; torch's sampling kernels take its mutex
  // themselves (locking it here too would deadlock).
  auto generator = at::detail::createCPUGenerator(seed);
  return torch::randn(shape, generator, torch::TensorOptions().dtype(torch::kFloat32));
}

void init_seeded(torch::nn::Module& module, std::uint64_t seed) {
  torch::NoGradGuard no_grad;
  auto parameters = module.named_parameters();
  std::vector<std::string> names;
  for (const auto& item : parameters) names.push_back(item.key());
  std::sort(names.begin(), names.end());
  for (const auto& name : names) {
    auto& parameter = parameters[name];
    if (parameter.dim() >= 2) {
      // fan_in: everything but the output dimension (linear in, conv in × kernel area).
      const double fan_in = static_cast<double>(parameter.numel() / parameter.size(0));
      const bool embedding = name.find("embedding") != std::string::npos;
      const double std = embedding ? 0.02 : 1.0 / std::sqrt(fan_in);
      const auto derived = seed ^ core::stable_hash64(name);
      parameter.copy_(seeded_normal(parameter.sizes().vec(), derived) * std);
    } else if (ends_with(name, "bias")) {
      parameter.zero_();
    } else {
      parameter.fill_(1.0);  // norm scales
    }
  }
}

LoadReport load_clip_text_weights(ClipTextModelImpl& model, const fs::path& file) {
  static const std::string kOriginal = "cond_stage_model.transformer.";
  static const std::string kText = "text_model.";
  std::vector<std::string> keys;
  {
    const auto opened = st::File::open(file);
    keys = opened.names();
  }
  const auto any_starts = [&](const std::string& prefix) {
    return std::any_of(keys.begin(), keys.end(), [&](const std::string& key) { return starts_with(key, prefix); });
  };
  KeyMap map;
  if (any_starts(kOriginal)) {
    // Single-file SD checkpoint: other networks' tensors are not ours to judge.
    map = [](const std::string& key) -> std::string {
      if (!starts_with(key, kOriginal) || ends_with(key, "position_ids")) return "";
      const auto rest = key.substr(kOriginal.size());
      return starts_with(rest, kText) ? rest : kText + rest;  // old transformers lacked "text_model."
    };
  } else if (any_starts(kText)) {
    map = [](const std::string& key) -> std::string { return ends_with(key, "position_ids") ? "" : key; };
  } else if (any_starts("embeddings.") || any_starts("encoder.layers.")) {
    map = [](const std::string& key) -> std::string { return ends_with(key, "position_ids") ? "" : kText + key; };
  } else {
    throw core::InputError(core::Location{file.string(), 0, "text_encoder"},
                           "CLIP text encoder tensors named text_model.* (diffusers/transformers) or "
                           "cond_stage_model.transformer.* (original single-file checkpoint); found none");
  }
  return load_weights(model, {file}, map, true);
}

}  // namespace dsbench::diffusion
