#include "pipeline/director/chat_client.h"

#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <random>
#include <thread>

#include "core/errors.h"
#include "core/text.h"

namespace dsbench::director {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

core::Location backend_field(const std::string& field) {
  return core::Location{.file = {}, .line = 0, .field = "director.backends[]." + field};
}

// Server text quoted in messages: bounded, and never with the key in it (an echoing
// proxy must not leak it into the store or a log).
std::string quote_server_text(std::string text, const std::string& key) {
  if (!key.empty()) {
    for (std::size_t at = text.find(key); at != std::string::npos; at = text.find(key, at)) {
      text.replace(at, key.size(), "***");
    }
  }
  for (char& c : text) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  if (text.size() > 300) text = text.substr(0, 300) + "...";
  return text;
}

std::string transport_problem(httplib::Error error) {
  switch (error) {
    case httplib::Error::Read:
      return "no complete answer before the read timeout (or the connection closed)";
    case httplib::Error::ConnectionTimeout:
      return "connection timed out";
    case httplib::Error::Connection:
      return "could not connect";
    case httplib::Error::Write:
      return "could not send the request (write failed or timed out)";
    case httplib::Error::SSLServerVerification:
      return "the server's TLS certificate was not accepted (not signed by a trusted CA, or not for this host)";
    case httplib::Error::SSLLoadingCerts:
      return "could not load the trusted CA certificates";
    case httplib::Error::SSLConnection:
      return "the TLS handshake failed";
    default:
      return "transport error: " + httplib::to_string(error);
  }
}

bool transport_error_is_retryable(httplib::Error error) {
  switch (error) {
    case httplib::Error::Read:
    case httplib::Error::Write:
    case httplib::Error::Connection:
    case httplib::Error::ConnectionTimeout:
    case httplib::Error::Unknown:
      return true;
    default:  // TLS set-up and certificate problems won't heal by retrying
      return false;
  }
}

bool status_is_retryable(int status) { return status == 408 || status == 429 || status >= 500; }

double jittered_backoff_s(const BackendSettings& settings, int retry) {
  thread_local std::mt19937_64 random{std::random_device{}()};
  const double ceiling = std::min(settings.backoff_max_s, settings.backoff_initial_s * std::pow(2.0, retry));
  // Half fixed, half random: spreads out clients that failed together, keeps growth.
  return ceiling * std::uniform_real_distribution<double>(0.5, 1.0)(random);
}

void set_timeouts(httplib::Client& client, double seconds) {
  const auto total_us = static_cast<std::int64_t>(seconds * 1e6);
  const time_t whole = static_cast<time_t>(total_us / 1000000);
  const time_t micros = static_cast<time_t>(total_us % 1000000);
  client.set_connection_timeout(whole, micros);
  client.set_read_timeout(whole, micros);
  client.set_write_timeout(whole, micros);
}

}  // namespace

// A counting gate with a size known only at run time (std::counting_semaphore needs a
// compile-time maximum).
class ChatClient::Slots {
 public:
  explicit Slots(int count) : free_(std::max(1, count)) {}
  void acquire() {
    std::unique_lock lock(mutex_);
    freed_.wait(lock, [&] { return free_ > 0; });
    --free_;
  }
  void release() {
    {
      const std::lock_guard lock(mutex_);
      ++free_;
    }
    freed_.notify_one();
  }

 private:
  std::mutex mutex_;
  std::condition_variable freed_;
  int free_;
};

Endpoint parse_endpoint(const std::string& base_url) {
  const std::string url = core::trim(base_url);
  const std::size_t scheme_end = url.find("://");
  const std::string scheme = scheme_end == std::string::npos ? "" : core::to_lower_ascii(url.substr(0, scheme_end));
  if (scheme != "http" && scheme != "https") {
    throw core::InputError(backend_field("base_url"),
                           "'" + url + "' is not an http:// or https:// URL (e.g. http://127.0.0.1:8080/v1)");
  }
  const std::size_t host_begin = scheme_end + 3;
  const std::size_t path_begin = url.find('/', host_begin);
  Endpoint endpoint;
  endpoint.origin = url.substr(0, path_begin);
  if (endpoint.origin.size() == host_begin) {
    throw core::InputError(backend_field("base_url"), "'" + url + "' has no host");
  }
  std::string path = path_begin == std::string::npos ? "" : url.substr(path_begin);
  while (!path.empty() && path.back() == '/') path.pop_back();
  if (path.find_first_of("?#") != std::string::npos) {
    throw core::InputError(backend_field("base_url"), "'" + url + "' must not carry a query or fragment");
  }
  if (!path.ends_with("/chat/completions")) path += "/chat/completions";
  endpoint.path = path;
  return endpoint;
}

double parse_retry_after_seconds(const std::string& value) {
  const std::string text = core::trim(value);
  if (text.empty()) return -1.0;
  char* end = nullptr;
  const double seconds = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size() || !(seconds >= 0.0)) return -1.0;
  return seconds;
}

ChatReply parse_chat_response(const std::string& body) {
  json document;
  try {
    document = json::parse(body);
  } catch (const json::parse_error&) {
    throw core::RunError("the server's answer is not JSON (expected a chat-completions object): " +
                         quote_server_text(body, {}));
  }
  const auto fail = [&](const std::string& what) {
    throw core::RunError("the server's answer is not a chat completion (" + what + "): " +
                         quote_server_text(document.dump(), {}));
  };
  if (!document.is_object() || !document.contains("choices") || !document["choices"].is_array() ||
      document["choices"].empty()) {
    fail("no choices");
  }
  const json& choice = document["choices"][0];
  if (!choice.is_object() || !choice.contains("message") || !choice["message"].is_object()) fail("no message");
  const json& content = choice["message"].value("content", json());
  if (!content.is_string()) fail("message.content is not a string");
  ChatReply reply;
  reply.content = content.get<std::string>();
  if (choice.contains("finish_reason") && choice["finish_reason"].is_string()) {
    reply.finish_reason = choice["finish_reason"].get<std::string>();
  }
  if (document.contains("usage") && document["usage"].is_object()) {
    const json& usage = document["usage"];
    const auto count = [&](const char* key) -> std::int64_t {
      return usage.contains(key) && usage[key].is_number_integer() ? usage[key].get<std::int64_t>() : 0;
    };
    reply.tokens_in = count("prompt_tokens");
    reply.tokens_out = count("completion_tokens");
  }
  return reply;
}

ChatClient::ChatClient(const BackendSettings& settings)
    : settings_(settings), endpoint_(parse_endpoint(settings.base_url)),
      slots_(std::make_unique<Slots>(settings.concurrency)) {
  if (core::trim(settings.model).empty()) {
    throw core::InputError(backend_field("model"), "backend '" + settings.name + "' of kind " + settings.kind +
                                                       " needs a model name");
  }
  if (!(settings.timeout_s > 0.0)) throw core::InputError(backend_field("timeout_s"), "must be > 0");
}

ChatClient::~ChatClient() = default;

std::string ChatClient::api_key() const {
  if (settings_.api_key_env.empty()) return {};
  const char* value = std::getenv(settings_.api_key_env.c_str());
  if (value == nullptr || *value == '\0') {
    throw core::RunError("director backend '" + settings_.name + "': the environment variable " +
                         settings_.api_key_env +
                         " (named by director.backends[].api_key_env) is not set or empty; export the API key "
                         "in it, or leave api_key_env empty for a server without keys");
  }
  return value;
}

json ChatClient::make_body(const std::vector<ChatMessage>& messages) const {
  json rendered = json::array();
  for (const ChatMessage& message : messages) {
    rendered.push_back({{"role", message.role}, {"content", message.content}});
  }
  json body = {{"model", settings_.model},
               {"messages", rendered},
               {"temperature", settings_.temperature},
               {"seed", settings_.seed},
               {"max_tokens", settings_.max_tokens}};
  if (settings_.json_response_format) body["response_format"] = {{"type", "json_object"}};
  return body;
}

ChatReply ChatClient::complete(const json& body) {
  const std::string key = api_key();
  const std::string payload = body.dump();
  httplib::Headers headers;
  if (!key.empty()) headers.emplace("Authorization", "Bearer " + key);
  const std::string where = endpoint_.origin + endpoint_.path;

  std::string last_problem;
  int attempts = 0;
  for (int retry = 0;; ++retry) {
    double retry_after_s = -1.0;
    {
      slots_->acquire();
      struct Release {
        Slots& slots;
        ~Release() { slots.release(); }
      } release{*slots_};

      httplib::Client client(endpoint_.origin);
      set_timeouts(client, settings_.timeout_s);
      if (!settings_.ca_cert_file.empty()) client.set_ca_cert_path(settings_.ca_cert_file.string());
      client.set_keep_alive(false);
      ++attempts;
      ++requests_sent_;
      const auto started = Clock::now();
      const httplib::Result result = client.Post(endpoint_.path, headers, payload, "application/json");
      const double elapsed_ms = std::chrono::duration<double, std::milli>(Clock::now() - started).count();

      if (!result) {
        last_problem = transport_problem(result.error());
        if (!transport_error_is_retryable(result.error())) {
          throw ChatFailure("director backend '" + settings_.name + "': " + where + ": " + last_problem, attempts);
        }
      } else if (result->status >= 200 && result->status < 300) {
        ChatReply reply;
        try {
          reply = parse_chat_response(result->body);
        } catch (const core::RunError& error) {
          throw ChatFailure("director backend '" + settings_.name + "': " + where + ": " +
                                quote_server_text(error.what(), key),
                            attempts);
        }
        reply.latency_ms = elapsed_ms;
        reply.http_attempts = attempts;
        return reply;
      } else {
        last_problem = "HTTP " + std::to_string(result->status) + ": " + quote_server_text(result->body, key);
        if (!status_is_retryable(result->status)) {
          throw ChatFailure("director backend '" + settings_.name + "': " + where + " answered " + last_problem,
                            attempts);
        }
        if (result->has_header("Retry-After")) {
          retry_after_s = parse_retry_after_seconds(result->get_header_value("Retry-After"));
        }
      }
    }
    if (retry >= settings_.max_retries) break;
    const double delay_s = retry_after_s >= 0.0 ? std::min(retry_after_s, settings_.retry_after_max_s)
                                                : jittered_backoff_s(settings_, retry);
    std::this_thread::sleep_for(std::chrono::duration<double>(delay_s));
  }
  throw ChatFailure("director backend '" + settings_.name + "': " + where + " failed after " +
                        std::to_string(attempts) + " attempts; last problem: " + last_problem,
                    attempts);
}

}  // namespace dsbench::director
