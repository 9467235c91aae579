// A real chat-completions server on 127.0.0.1 for tests: an httplib::Server on a port
// the OS picks, in its own thread, answering every POST .../chat/completions with what a
// test's script function returns. It counts requests, keeps their bodies and
// Authorization headers, and tracks how many were in flight at once.
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

namespace dsbench::director::testing {

struct ScriptedReply {
  int status = 200;
  std::string body;                                    // raw body (used when set)
  std::string content;                                 // else: a chat completion with this content
  std::string finish_reason = "stop";
  std::vector<std::pair<std::string, std::string>> headers;
  double delay_s = 0.0;                                // sleep before answering
  int prompt_tokens = 100;
  int completion_tokens = 50;
};

inline ScriptedReply completion(std::string content) {
  ScriptedReply reply;
  reply.content = std::move(content);
  return reply;
}

// The story id in a request's first user message ("Story <id>: ...").
inline std::string story_id_of(const nlohmann::json& request) {
  for (const auto& message : request.at("messages")) {
    if (message.at("role") != "user") continue;
    const std::string text = message.at("content").get<std::string>();
    if (!text.starts_with("Story ")) continue;
    return text.substr(6, text.find(':') - 6);
  }
  return {};
}

class ChatServer {
 public:
  // `script(request, n)`: the reply to the n-th request (0-based, over all requests).
  using Script = std::function<ScriptedReply(const nlohmann::json& request, int n)>;

  // With `tls` the server speaks HTTPS with that certificate and key.
  struct Tls {
    std::string certificate_file;
    std::string private_key_file;
  };

  explicit ChatServer(Script script, const Tls* tls = nullptr)
      : script_(std::move(script)),
        owned_server_(tls != nullptr ? std::unique_ptr<httplib::Server>(std::make_unique<httplib::SSLServer>(
                                           tls->certificate_file.c_str(), tls->private_key_file.c_str()))
                                     : std::make_unique<httplib::Server>()),
        server_(*owned_server_),
        scheme_(tls != nullptr ? "https" : "http") {
    server_.Post(R"(.*/chat/completions)", [this](const httplib::Request& request, httplib::Response& response) {
      handle(request, response);
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~ChatServer() {
    server_.stop();
    thread_.join();
  }

  std::string base_url() const { return scheme_ + "://127.0.0.1:" + std::to_string(port_) + "/v1"; }
  int requests() const { return requests_.load(); }
  int max_in_flight() const { return max_in_flight_.load(); }
  std::vector<nlohmann::json> bodies() const {
    const std::lock_guard lock(mutex_);
    return bodies_;
  }
  std::vector<std::string> authorizations() const {
    const std::lock_guard lock(mutex_);
    return authorizations_;
  }

 private:
  void handle(const httplib::Request& request, httplib::Response& response) {
    const int in_flight = ++in_flight_;
    for (int seen = max_in_flight_.load(); in_flight > seen && !max_in_flight_.compare_exchange_weak(seen, in_flight);) {
    }
    const nlohmann::json body = nlohmann::json::parse(request.body);
    int n = 0;
    {
      const std::lock_guard lock(mutex_);
      n = static_cast<int>(bodies_.size());
      bodies_.push_back(body);
      authorizations_.push_back(request.get_header_value("Authorization"));
    }
    ++requests_;
    const ScriptedReply reply = script_(body, n);
    if (reply.delay_s > 0.0) std::this_thread::sleep_for(std::chrono::duration<double>(reply.delay_s));
    response.status = reply.status;
    for (const auto& [name, value] : reply.headers) response.set_header(name, value);
    if (!reply.body.empty()) {
      response.set_content(reply.body, "application/json");
    } else {
      const nlohmann::json answer = {
          {"id", "chatcmpl-test"},
          {"object", "chat.completion"},
          {"model", body.value("model", "")},
          {"choices", {{{"index", 0},
                        {"message", {{"role", "assistant"}, {"content", reply.content}}},
                        {"finish_reason", reply.finish_reason}}}},
          {"usage", {{"prompt_tokens", reply.prompt_tokens},
                     {"completion_tokens", reply.completion_tokens},
                     {"total_tokens", reply.prompt_tokens + reply.completion_tokens}}}};
      response.set_content(answer.dump(), "application/json");
    }
    --in_flight_;
  }

  Script script_;
  std::unique_ptr<httplib::Server> owned_server_;
  httplib::Server& server_;
  std::string scheme_;
  int port_ = 0;
  std::thread thread_;
  std::atomic<int> requests_{0};
  std::atomic<int> in_flight_{0};
  std::atomic<int> max_in_flight_{0};
  mutable std::mutex mutex_;
  std::vector<nlohmann::json> bodies_;
  std::vector<std::string> authorizations_;
};

}  // namespace dsbench::director::testing
