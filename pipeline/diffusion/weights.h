// Generic safetensors -> torch weight loading by name, weight saving (tests, fixtures),
// parameter counts and deterministic seeded noise/initialisation.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "core/safetensors.h"

namespace dsbench::diffusion {

class ClipTextModelImpl;

struct LoadReport {
  std::vector<std::string> missing;     // our names no file provided
  std::vector<std::string> unexpected;  // file keys that map to no parameter/buffer of ours
  std::vector<std::string> mismatched;  // "name: file [a,b] vs model [c,d]" (also non-float dtypes)
  std::vector<std::string> loaded;      // our names that were filled
  bool ok() const { return missing.empty() && unexpected.empty() && mismatched.empty(); }
  // One line per category, each list truncated to its first 10 names with the total count.
  std::string summary() const;
};

// Returns our parameter/buffer name for a file key, or "" to ignore the key.
using KeyMap = std::function<std::string(const std::string& file_key)>;

// A copy of the view as a CPU tensor. F16/BF16/F64 become F32 unless keep_dtype;
// integer and bool tensors keep their type.
torch::Tensor to_tensor(const core::safetensors::TensorView& view, bool keep_dtype = false);

// Copies every file tensor (after `map`; identity when empty) into the module's parameter
// or buffer of that name. Shapes must match exactly. strict: an InputError naming the
// files and every missing/unexpected/mis-shaped key (truncated) if the report is not ok,
// and nothing is modified. Non-strict: loads what matches and returns the report.
// A key present in two files is an InputError either way.
LoadReport load_weights(torch::nn::Module& module, const std::vector<std::filesystem::path>& files,
                        const KeyMap& map = {}, bool strict = true);

// Writes every parameter and buffer as F32 safetensors (names through `rename` when given;
// "" drops the tensor).
void save_weights(torch::nn::Module& module, const std::filesystem::path& file, const KeyMap& rename = {});

std::int64_t parameter_count(const torch::nn::Module& module);

// N(0, 1) float32 noise from a private generator seeded with `seed`: the same values for
// the same seed and shape regardless of the global RNG state or thread count.
torch::Tensor seeded_normal(std::vector<int64_t> shape, std::uint64_t seed);

// Deterministic initialisation for the seeded-random (`tiny`) profiles: weights of
// dimension >= 2 get N(0, 1/fan_in) (conv: fan_in = in_channels * kernel area; embeddings:
// std 0.02), norm weights 1, biases 0, so that activations stay finite. Parameters are
// visited in name order; the seed of each is derived from `seed` and its name.
void init_seeded(torch::nn::Module& module, std::uint64_t seed);

// CLIP text encoder weights from one safetensors file, detecting the layout: diffusers /
// transformers keys ("text_model.*"), the original single-file SD checkpoint
// ("cond_stage_model.transformer.text_model.*", or without "text_model." from old
// transformers versions); keys of other networks in a single-file checkpoint are ignored,
// position_ids buffers are ignored. Strict (InputError with the report).
LoadReport load_clip_text_weights(ClipTextModelImpl& model, const std::filesystem::path& file);

}  // namespace dsbench::diffusion
