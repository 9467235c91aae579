#pragma once
// Embedding cache seam: the harness backs it with the store later; in-memory for now.
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

namespace dsbench::metrics {

struct EmbeddingKey {
  std::string image_sha256;
  std::string model_id;                // e.g. "dreamsim-ensemble", "dreamsim-tiny"
  std::string preprocessing_version;   // bump when preprocessing changes
  auto operator<=>(const EmbeddingKey&) const = default;
};

class EmbeddingCache {
 public:
  virtual ~EmbeddingCache() = default;
  virtual std::optional<std::vector<float>> find(const EmbeddingKey& key) const = 0;
  virtual void store(const EmbeddingKey& key, std::vector<float> embedding) = 0;
};

class InMemoryEmbeddingCache final : public EmbeddingCache {
 public:
  std::optional<std::vector<float>> find(const EmbeddingKey& key) const override {
    const auto found = entries_.find(key);
    if (found == entries_.end()) return std::nullopt;
    return found->second;
  }
  void store(const EmbeddingKey& key, std::vector<float> embedding) override {
    entries_[key] = std::move(embedding);
  }
  std::size_t size() const { return entries_.size(); }

 private:
  std::map<EmbeddingKey, std::vector<float>> entries_;
};

}  // namespace dsbench::metrics
