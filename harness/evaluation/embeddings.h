// Embeddings of one model through the store's embedding cache: requests (a cache key and
// how to make the pixels) are collected first, then the misses are embedded in batches;
// the network is built only if there is a miss.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/image.h"
#include "harness/store/store.h"

namespace dsbench::evaluation {

using Embedding = std::vector<float>;

// An image or crop to embed: its cache key and how to make its pixels when needed.
struct Request {
  std::string key;
  std::function<core::Image()> pixels;
};

class Embeddings {
 public:
  using Embed = std::function<torch::Tensor(const std::vector<core::Image>&)>;
  // `make_model` is called at most once, on the first miss.
  Embeddings(store::Store& store, std::string model_id, std::string version, int batch_size,
             std::function<Embed()> make_model);

  void add(Request request);  // a key seen before is ignored
  // Looks everything up in the cache, embeds the rest, stores them. Returns how many were
  // embedded now.
  std::size_t compute();

  std::size_t size() const { return requests_.size(); }
  const Embedding& get(const std::string& key) const { return values_.at(key); }
  // Any computed embedding (its size is the model's); std::logic_error when there is none.
  const Embedding& get_any() const {
    if (values_.empty()) throw std::logic_error("no embedding has been computed");
    return values_.begin()->second;
  }

 private:
  store::Store& store_;
  std::string model_id_, version_;
  std::size_t batch_size_;
  std::function<Embed()> make_model_;
  std::set<std::string> known_;
  std::vector<Request> requests_;
  std::map<std::string, Embedding> values_;
};

}  // namespace dsbench::evaluation
