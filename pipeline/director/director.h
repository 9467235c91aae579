// The story director: turns a story into a StoryPlan (subjects with portrait and short
// prompts, one prompt per scene, the subjects of each scene and the prompt rewritten
// with names replaced by short descriptions). Three backends: `oracle` (the dataset's
// own annotations), `openai` (any OpenAI-compatible chat-completions endpoint, with
// retries, repairs and a call cache) and `replay` (answers only from recorded calls).
//
// The public API of the module is this header plus the headers it includes:
//   call_store.h   recorded LLM calls, the store interface and the request hash
//   plan_json.h    the output JSON schema, its validator and the typed parse
//   templates.h    versioned prompt templates
//   scores.h       director-level scores against annotations and call statistics
//   chat_client.h  the OpenAI-compatible HTTP client (retries, Retry-After, concurrency)
//   llm_director.h the openai and replay backends and the messages they send
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "datasets/dataset.h"
#include "pipeline/director/call_store.h"
#include "pipeline/director/story_plan.h"

namespace dsbench::director {

// What a director did for one LLM exchange of one story; the raw material of the
// call statistics (scores.h). The oracle produces none.
struct CallEvent {
  std::string backend;
  std::string story_id;
  int attempt = 0;            // 0 = first request of the story, n = n-th repair
  bool from_store = false;    // answered from the call store (no HTTP request)
  bool answered = false;      // an answer came (from the server or the store), valid or not
  bool valid = false;         // the answer parsed and validated into a plan
  std::string error;          // validation or transport error when not valid
  std::int64_t tokens_in = 0;
  std::int64_t tokens_out = 0;
  double latency_ms = 0.0;    // as measured when the call was made (recorded value on replay)
  int http_attempts = 0;      // HTTP requests sent for this exchange (retries and failed ones included)
};

class Director {
 public:
  virtual ~Director() = default;
  virtual std::string name() const = 0;
  // Throws core::RunError with a clear message when the story can't be planned. Safe to
  // call from several threads at once.
  virtual StoryPlan plan(const datasets::Story& story) = 0;
  // The call events since the last call of this function (thread-safe). Empty for the
  // oracle.
  virtual std::vector<CallEvent> take_call_events() { return {}; }
};

// The dataset's own annotations. An unannotated story is a RunError
// "story X has no annotations; use an LLM backend".
std::unique_ptr<Director> make_oracle_director(const std::string& name = "oracle");
StoryPlan oracle_plan(const datasets::Story& story);

// `prompt` with every subject's name (word boundary, case-insensitive, longest name
// first) replaced by the subject's short prompt (its trailing period dropped; the kind
// when the short prompt is empty). Text without names comes back unchanged.
std::string rewrite_prompt(const std::string& prompt, const std::vector<SubjectPlan>& subjects);

// Mirrors harness/config's DirectorBackendConfig (the harness maps one onto the other),
// plus knobs that only tests and callers set.
struct BackendSettings {
  std::string name;                 // defaults to kind
  std::string kind = "oracle";      // oracle | openai | replay
  std::string base_url;             // e.g. http://127.0.0.1:8080/v1 (…/chat/completions is appended)
  std::string model;
  double temperature = 0.0;
  std::int64_t seed = 0;
  int max_tokens = 2048;
  double timeout_s = 60.0;          // connect, read and write timeout of one HTTP request
  std::string api_key_env;          // NAME of the environment variable with the key; empty = none
  int concurrency = 4;              // HTTP requests in flight at once, over all stories
  int max_repairs = 2;              // follow-up requests after an invalid answer
  bool cache = true;                // openai: answer identical requests from the call store

  // Not in the config file.
  std::filesystem::path templates_dir;     // empty = the templates compiled into the binary
  std::string template_name = "director_v1";
  std::size_t max_scenes = 8;              // stories without scenes: the LLM picks 1..max_scenes
  bool json_response_format = true;        // send response_format {"type": "json_object"}
  int max_retries = 4;                     // HTTP retries on timeouts, 429 and 5xx
  double backoff_initial_s = 1.0;          // first retry delay, doubled each retry, jittered
  double backoff_max_s = 30.0;
  double retry_after_max_s = 120.0;        // a server's Retry-After is honoured up to this
  std::filesystem::path ca_cert_file;      // https: trust these CAs (PEM); empty = the system's
};

// Any backend. `store` may be null for oracle and for openai without caching; replay
// needs it. Settings problems (unknown kind, missing base_url/model, …) are
// core::InputErrors naming the `director.backends[].<field>`.
std::unique_ptr<Director> make_director(const BackendSettings& settings,
                                        std::shared_ptr<CallStore> store = nullptr);

// The outcome for one story of plan_stories: a plan, or the message of why not.
struct PlanOutcome {
  std::string story_id;
  bool ok = false;
  StoryPlan plan;
  std::string error;
};

// Plans every story with up to `threads` stories in flight; a story that fails is
// reported in its outcome and the others continue. Outcomes are in story order.
std::vector<PlanOutcome> plan_stories(Director& director,
                                      const std::vector<datasets::Story>& stories,
                                      int threads);

}  // namespace dsbench::director
