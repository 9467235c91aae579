#include "pipeline/director/call_store.h"

#include "core/hashing.h"

namespace dsbench::director {

std::optional<RecordedCall> InMemoryCallStore::find(const std::string& request_hash) {
  const std::lock_guard lock(mutex_);
  const auto it = calls_.find(request_hash);
  if (it == calls_.end()) return std::nullopt;
  return it->second;
}

void InMemoryCallStore::record(const RecordedCall& call) {
  const std::lock_guard lock(mutex_);
  calls_[call.request_hash] = call;
}

std::size_t InMemoryCallStore::size() const {
  const std::lock_guard lock(mutex_);
  return calls_.size();
}

std::string request_hash(const std::string& base_url, const nlohmann::json& request_body) {
  nlohmann::json parameters = request_body;
  nlohmann::json messages = nlohmann::json::array();
  std::string model;
  if (parameters.is_object()) {
    if (parameters.contains("messages")) messages = parameters["messages"];
    if (parameters.contains("model") && parameters["model"].is_string()) {
      model = parameters["model"].get<std::string>();
    }
    parameters.erase("messages");
    parameters.erase("model");
  }
  // nlohmann::json objects keep their keys sorted, so dump() is canonical.
  const nlohmann::json canonical = {
      {"base_url", base_url}, {"model", model}, {"messages", messages}, {"parameters", parameters}};
  return core::sha256_hex(canonical.dump());
}

}  // namespace dsbench::director
