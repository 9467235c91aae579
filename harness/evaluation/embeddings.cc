#include "harness/evaluation/embeddings.h"

#include <algorithm>

namespace dsbench::evaluation {

Embeddings::Embeddings(store::Store& store, std::string model_id, std::string version, int batch_size,
                       std::function<Embed()> make_model)
    : store_(store), model_id_(std::move(model_id)), version_(std::move(version)),
      batch_size_(static_cast<std::size_t>(std::max(batch_size, 1))), make_model_(std::move(make_model)) {}

void Embeddings::add(Request request) {
  if (known_.insert(request.key).second) requests_.push_back(std::move(request));
}

std::size_t Embeddings::compute() {
  std::vector<std::string> keys;
  for (const auto& request : requests_) keys.push_back(request.key);
  const auto cached = store_.get_embeddings(keys, model_id_, version_);
  std::vector<const Request*> missing;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (cached[i]) values_[keys[i]] = *cached[i];
    else missing.push_back(&requests_[i]);
  }
  if (missing.empty()) return 0;
  const Embed embed = make_model_();
  for (std::size_t start = 0; start < missing.size(); start += batch_size_) {
    const auto end = std::min(missing.size(), start + batch_size_);
    std::vector<core::Image> images;
    for (std::size_t i = start; i < end; ++i) images.push_back(missing[i]->pixels());
    const auto embedded = embed(images).contiguous();
    std::vector<store::Embedding> rows;
    for (std::size_t i = start; i < end; ++i) {
      const float* data = embedded[static_cast<long>(i - start)].data_ptr<float>();
      Embedding values(data, data + embedded.size(1));
      values_[missing[i]->key] = values;
      rows.push_back({missing[i]->key, std::move(values)});
    }
    store_.put_embeddings(rows, model_id_, version_);
  }
  return missing.size();
}

}  // namespace dsbench::evaluation
