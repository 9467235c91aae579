// A client for OpenAI-compatible chat-completions endpoints (cpp-httplib; https through
// OpenSSL with the system's CA certificates). Timeouts, retries with exponential backoff
// and jitter on transport errors, 429 and 5xx, a server's Retry-After honoured up to a
// bound, and at most `concurrency` requests in flight per client.
//
// The API key is read from the environment variable NAMED in the settings when the first
// request is sent; it goes into the Authorization header only. It is never part of the
// request body (which is what gets hashed and stored), of an error message or of a log
// line, and any text quoted from a server has it masked.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/errors.h"
#include "pipeline/director/director.h"

namespace dsbench::director {

struct ChatMessage {
  std::string role;  // system | user | assistant
  std::string content;
};

struct ChatReply {
  std::string content;        // choices[0].message.content
  std::string finish_reason;  // "stop", "length" (cut at max_tokens), ...
  std::int64_t tokens_in = 0;   // usage.prompt_tokens (0 when the server sends none)
  std::int64_t tokens_out = 0;  // usage.completion_tokens
  double latency_ms = 0.0;      // wall time of the successful request
  int http_attempts = 0;        // requests sent, retries included
};

// Where requests go: "https://api.example.com/v1" -> origin "https://api.example.com",
// path "/v1/chat/completions". A base URL that already ends in /chat/completions is kept.
struct Endpoint {
  std::string origin;  // scheme://host[:port]
  std::string path;
};
// Throws core::InputError naming director.backends[].base_url when the URL is not
// http(s)://host[:port][/path].
Endpoint parse_endpoint(const std::string& base_url);

// Parses a Retry-After value in seconds ("3", "0.5"); HTTP dates and garbage give -1.
double parse_retry_after_seconds(const std::string& value);

// Parses a chat-completions response body; throws core::RunError when it is not one.
ChatReply parse_chat_response(const std::string& body);

// What ChatClient::complete throws when no usable answer came: a RunError that also
// says how many HTTP requests went out first (the call statistics count them).
class ChatFailure : public core::RunError {
 public:
  ChatFailure(const std::string& message, int http_attempts)
      : core::RunError(message), http_attempts_(http_attempts) {}
  int http_attempts() const { return http_attempts_; }

 private:
  int http_attempts_;
};

class ChatClient {
 public:
  // Checks the URL and the model; does not touch the network or the key yet.
  explicit ChatClient(const BackendSettings& settings);
  ~ChatClient();
  ChatClient(const ChatClient&) = delete;
  ChatClient& operator=(const ChatClient&) = delete;

  // The request body for `messages` (model, messages, temperature, seed, max_tokens and,
  // when enabled, response_format json_object). Never contains the key.
  nlohmann::json make_body(const std::vector<ChatMessage>& messages) const;

  // Sends `body`, retrying as described above. Throws ChatFailure after the last retry,
  // on a non-retryable status (4xx other than 408/429) or transport error, or on an
  // answer that is not a chat completion; core::RunError when the key's variable is unset
  // (the message names the variable; nothing was sent). Thread-safe.
  ChatReply complete(const nlohmann::json& body);

  const std::string& base_url() const { return settings_.base_url; }
  // HTTP requests sent by this client so far (retries included).
  std::int64_t requests_sent() const { return requests_sent_.load(); }

 private:
  class Slots;
  std::string api_key() const;

  BackendSettings settings_;
  Endpoint endpoint_;
  std::unique_ptr<Slots> slots_;
  std::atomic<std::int64_t> requests_sent_{0};
};

}  // namespace dsbench::director
