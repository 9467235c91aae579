#include "pipeline/director/llm_director.h"

#include <mutex>

#include "core/errors.h"
#include "pipeline/director/plan_json.h"

namespace dsbench::director {
namespace {

using nlohmann::json;

// How one exchange was answered.
struct Answer {
  std::string content;
  std::string finish_reason;
  std::int64_t tokens_in = 0;
  std::int64_t tokens_out = 0;
  double latency_ms = 0.0;
  bool from_store = false;
  int http_attempts = 0;
};

class LlmDirector : public Director {
 public:
  LlmDirector(const BackendSettings& settings, std::shared_ptr<CallStore> store)
      : settings_(settings), store_(std::move(store)), client_(settings),
        templates_(load_templates(settings.template_name, settings.templates_dir)),
        replay_(settings.kind == "replay") {}

  std::string name() const override { return settings_.name; }

  StoryPlan plan(const datasets::Story& story) override {
    std::vector<ChatMessage> messages = first_messages(templates_, story, settings_.max_scenes);
    const PlanExpectations expectations = expectations_for(story, settings_.max_scenes);
    std::string last_error;
    for (int attempt = 0; attempt <= settings_.max_repairs; ++attempt) {
      const json body = client_.make_body(messages);
      const std::string hash = request_hash(client_.base_url(), body);
      CallEvent event;
      event.backend = settings_.name;
      event.story_id = story.id;
      event.attempt = attempt;
      Answer answer;
      try {
        answer = ask(body, hash, story, attempt);
      } catch (const core::Error& error) {
        event.error = error.what();
        // Requests that went out but brought no answer still count in the statistics.
        if (const auto* failure = dynamic_cast<const ChatFailure*>(&error)) event.http_attempts = failure->http_attempts();
        add_event(event);
        throw core::RunError("story " + story.id + ": director backend '" + settings_.name + "': " + error.what());
      }
      const PlanParseResult parsed = parse_story_plan(answer.content, story.id, expectations);
      if (!answer.from_store && store_) store_->record(record_of(body, hash, answer, parsed.ok));

      event.from_store = answer.from_store;
      event.answered = true;
      event.valid = parsed.ok;
      event.tokens_in = answer.tokens_in;
      event.tokens_out = answer.tokens_out;
      event.latency_ms = answer.latency_ms;
      event.http_attempts = answer.http_attempts;
      if (!parsed.ok) {
        last_error = parsed.error_message();
        if (answer.finish_reason == "length") {
          last_error += "\n(the answer stopped at max_tokens=" + std::to_string(settings_.max_tokens) + ")";
        }
        event.error = last_error;
      }
      add_event(event);
      if (parsed.ok) return parsed.plan;

      messages.push_back({"assistant", answer.content});
      messages.push_back({"user", render_template(templates_.repair, repair_values(story, last_error),
                                                  templates_.name + ".repair.txt")});
    }
    throw core::RunError("story " + story.id + ": director backend '" + settings_.name +
                         "': the answer is still invalid after " + std::to_string(settings_.max_repairs) +
                         " repair request(s); last problems:\n" + last_error);
  }

  std::vector<CallEvent> take_call_events() override {
    const std::lock_guard lock(events_mutex_);
    return std::exchange(events_, {});
  }

 private:
  Answer ask(const json& body, const std::string& hash, const datasets::Story& story, int attempt) {
    const bool look_up = store_ && (replay_ || settings_.cache);
    if (look_up) {
      if (const std::optional<RecordedCall> recorded = store_->find(hash)) {
        return Answer{.content = recorded->response,
                      .finish_reason = {},
                      .tokens_in = recorded->tokens_in,
                      .tokens_out = recorded->tokens_out,
                      .latency_ms = recorded->latency_ms,
                      .from_store = true,
                      .http_attempts = 0};
      }
    }
    if (replay_) {
      throw core::RunError("no recorded call for " + std::string(attempt == 0 ? "the first request" : "repair ") +
                           (attempt == 0 ? "" : std::to_string(attempt)) + " of story " + story.id +
                           " (request hash " + hash.substr(0, 16) +
                           "); replay answers only from the store: run the same backend settings once with "
                           "kind openai to record it");
    }
    const ChatReply reply = client_.complete(body);
    return Answer{.content = reply.content,
                  .finish_reason = reply.finish_reason,
                  .tokens_in = reply.tokens_in,
                  .tokens_out = reply.tokens_out,
                  .latency_ms = reply.latency_ms,
                  .from_store = false,
                  .http_attempts = reply.http_attempts};
  }

  RecordedCall record_of(const json& body, const std::string& hash, const Answer& answer, bool valid) const {
    return RecordedCall{.backend = settings_.name,
                        .model = settings_.model,
                        .request_hash = hash,
                        .request = body,
                        .response = answer.content,
                        .tokens_in = answer.tokens_in,
                        .tokens_out = answer.tokens_out,
                        .latency_ms = answer.latency_ms,
                        .template_hash = templates_.hash,
                        .status = valid ? "valid" : "invalid"};
  }

  std::map<std::string, std::string> repair_values(const datasets::Story& story, const std::string& error) const {
    std::map<std::string, std::string> values = template_values(story, settings_.max_scenes);
    values["error"] = error;
    return values;
  }

  void add_event(const CallEvent& event) {
    const std::lock_guard lock(events_mutex_);
    events_.push_back(event);
  }

  BackendSettings settings_;
  std::shared_ptr<CallStore> store_;
  ChatClient client_;
  PromptTemplates templates_;
  bool replay_;
  std::mutex events_mutex_;
  std::vector<CallEvent> events_;
};

}  // namespace

std::map<std::string, std::string> template_values(const datasets::Story& story, std::size_t max_scenes) {
  std::string scenes;
  for (std::size_t i = 0; i < story.scenes.size(); ++i) {
    const datasets::Scene& scene = story.scenes[i];
    // A dataset without passage texts still has its scene prompts: they are the passages.
    const std::string& passage = scene.text.empty() ? scene.prompt : scene.text;
    scenes += std::to_string(i + 1) + ". " + passage + "\n";
  }
  if (!scenes.empty()) scenes.pop_back();
  return {{"story_id", story.id},
          {"title", story.title.empty() ? story.id : story.title},
          {"story_text", story.text},
          {"scenes", scenes},
          {"scene_count", std::to_string(story.scenes.size())},
          {"max_scenes", std::to_string(max_scenes)},
          {"schema", std::string(story_plan_schema_text())},
          {"schema_version", std::to_string(story_plan_schema_version())}};
}

std::vector<ChatMessage> first_messages(const PromptTemplates& templates, const datasets::Story& story,
                                        std::size_t max_scenes) {
  const auto values = template_values(story, max_scenes);
  return {{"system", render_template(templates.system, values, templates.name + ".system.txt")},
          {"user", render_template(templates.user, values, templates.name + ".user.txt")}};
}

std::unique_ptr<Director> make_llm_director(const BackendSettings& settings, std::shared_ptr<CallStore> store) {
  if (settings.kind != "openai" && settings.kind != "replay") {
    throw core::InputError(core::Location{.file = {}, .line = 0, .field = "director.backends[].kind"},
                           "'" + settings.kind + "' is not an LLM backend (expected openai or replay)");
  }
  if (settings.kind == "replay" && !store) {
    throw core::InputError(core::Location{.file = {}, .line = 0, .field = "director.backends[].kind"},
                           "backend '" + settings.name + "': replay needs a call store (the run store)");
  }
  BackendSettings named = settings;
  if (named.name.empty()) named.name = named.kind;
  return std::make_unique<LlmDirector>(named, std::move(store));
}

}  // namespace dsbench::director
