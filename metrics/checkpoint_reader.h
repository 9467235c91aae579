#pragma once
// Reading a published checkpoint whose names and layout are not ours (Hugging Face, OpenAI,
// torch.hub): the loader takes each tensor by key with the shape the network needs and maps
// it itself; every missing, mis-shaped and unused key is collected so that one InputError
// can name them all.
#include <torch/torch.h>

#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/safetensors.h"

namespace dsbench::metrics {

class CheckpointReader {
 public:
  // `ignored`: keys that are not weights of the network (never reported as unexpected).
  explicit CheckpointReader(const std::filesystem::path& file,
                            std::function<bool(const std::string&)> ignored = {});

  const core::safetensors::File& file() const { return file_; }
  bool contains(const std::string& key) const { return file_.contains(key); }

  // As float32; an undefined tensor when the key is absent or mis-shaped (recorded).
  torch::Tensor take(const std::string& key, const std::vector<std::int64_t>& shape);

  // InputError naming the file and every missing / mis-shaped / unexpected key, headed by
  // `what` (e.g. "CLIP weights (OpenAI layout) with the keys and shapes of clip_vitb16").
  void finish(const std::string& what) const;

 private:
  core::safetensors::File file_;
  std::function<bool(const std::string&)> ignored_;
  std::set<std::string> used_;
  std::vector<std::string> missing_, mismatched_;
};

// Our parameter name -> value, as a loader builds it.
using NamedValues = std::map<std::string, torch::Tensor>;

// Copies `values` (names prefixed by `prefix`) into every parameter of `module`; a
// parameter without a defined value is a std::logic_error (a gap in our mapping, not in
// the user's file, which finish() has checked).
void assign_parameters(torch::nn::Module& module, const NamedValues& values, const std::string& prefix = "");

}  // namespace dsbench::metrics
