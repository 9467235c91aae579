// Recorded LLM calls. Every chat-completions exchange (request without any key, answer,
// tokens, latency, template hash) is written to a CallStore; an identical request is
// answered from it, so re-running a config makes no HTTP request and works offline.
// The harness implements CallStore over the run store's director_calls table; the
// in-memory store serves tests and single runs.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace dsbench::director {

struct RecordedCall {
  std::string backend;        // backend name from the config ("local-a")
  std::string model;
  std::string request_hash;   // request_hash() of the request
  nlohmann::json request;     // the chat-completions body as sent (never holds the key)
  std::string response;       // the assistant message content
  std::int64_t tokens_in = 0;
  std::int64_t tokens_out = 0;
  double latency_ms = 0.0;    // wall time of the successful HTTP request
  std::string template_hash;  // templates.h: hash of the template pair used
  std::string status;         // "valid" (answer validated) | "invalid" (repair followed)
};

class CallStore {
 public:
  virtual ~CallStore() = default;
  // Implementations must be safe to call from several threads.
  virtual std::optional<RecordedCall> find(const std::string& request_hash) = 0;
  // Recording an existing hash replaces the earlier call.
  virtual void record(const RecordedCall& call) = 0;
};

class InMemoryCallStore : public CallStore {
 public:
  std::optional<RecordedCall> find(const std::string& request_hash) override;
  void record(const RecordedCall& call) override;
  std::size_t size() const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, RecordedCall> calls_;
};

// SHA-256 (hex) of the canonical JSON (sorted keys, no spaces) of
// {"base_url", "model", "messages", "parameters"}; `parameters` holds every other field
// of the request body (temperature, seed, max_tokens, response_format, ...).
std::string request_hash(const std::string& base_url, const nlohmann::json& request_body);

}  // namespace dsbench::director
