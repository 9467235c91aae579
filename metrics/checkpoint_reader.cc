#include "metrics/checkpoint_reader.h"

#include "core/errors.h"
#include "pipeline/diffusion/weights.h"

namespace dsbench::metrics {
namespace {

namespace st = core::safetensors;

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string text = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) text += (i ? "," : "") + std::to_string(shape[i]);
  return text + "]";
}

std::string listing(const std::string& what, const std::vector<std::string>& names) {
  constexpr std::size_t kListed = 10;
  std::string text = std::to_string(names.size()) + " " + what + ": ";
  for (std::size_t i = 0; i < names.size() && i < kListed; ++i) text += (i ? ", " : "") + names[i];
  if (names.size() > kListed) text += ", ... (" + std::to_string(names.size() - kListed) + " more)";
  return text;
}

}  // namespace

CheckpointReader::CheckpointReader(const std::filesystem::path& file, std::function<bool(const std::string&)> ignored)
    : file_(st::File::open(file)), ignored_(std::move(ignored)) {}

torch::Tensor CheckpointReader::take(const std::string& key, const std::vector<std::int64_t>& shape) {
  used_.insert(key);
  if (!file_.contains(key)) {
    missing_.push_back(key);
    return {};
  }
  const auto& view = file_.tensor(key);
  const bool floating = view.dtype == st::DType::kF32 || view.dtype == st::DType::kF16 ||
                        view.dtype == st::DType::kBF16 || view.dtype == st::DType::kF64;
  if (view.shape != shape || !floating) {
    mismatched_.push_back(key + ": file " + shape_text(view.shape) + " " + st::dtype_name(view.dtype) +
                          ", expected " + shape_text(shape) + " float");
    return {};
  }
  return diffusion::to_tensor(view).to(torch::kFloat32);
}

void CheckpointReader::finish(const std::string& what) const {
  std::vector<std::string> unexpected;
  for (const auto& key : file_.names()) {
    if (!used_.count(key) && !(ignored_ && ignored_(key))) unexpected.push_back(key);
  }
  if (missing_.empty() && mismatched_.empty() && unexpected.empty()) return;
  std::string text;
  for (const auto& [kind, names] : {std::pair<std::string, const std::vector<std::string>*>{"missing", &missing_},
                                    {"mis-shaped", &mismatched_},
                                    {"unexpected", &unexpected}}) {
    if (!names->empty()) text += (text.empty() ? "" : "; ") + listing(kind, *names);
  }
  throw core::InputError(core::Location{file_.path().string(), 0, ""}, what + ": " + text);
}

void assign_parameters(torch::nn::Module& module, const NamedValues& values, const std::string& prefix) {
  torch::NoGradGuard no_grad;
  for (auto& item : module.named_parameters()) {
    const auto at = values.find(prefix + item.key());
    if (at == values.end() || !at->second.defined()) {
      throw std::logic_error("checkpoint loader: no value for parameter " + prefix + item.key());
    }
    item.value().copy_(at->second);
  }
}

}  // namespace dsbench::metrics
