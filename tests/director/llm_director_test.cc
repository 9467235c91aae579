// The openai and replay backends over real sockets: a chat-completions server on
// 127.0.0.1 (chat_server.h) with scripted answers.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <fstream>

#include "core/errors.h"
#include "pipeline/director/chat_client.h"
#include "pipeline/director/llm_director.h"
#include "pipeline/director/plan_json.h"
#include "tests/director/chat_server.h"
#include "tests/director/stories.h"

namespace dsbench::director {
namespace {

using nlohmann::json;
using testing::ChatServer;
using testing::completion;
using testing::ScriptedReply;
using testing::story_id_of;
using testing::story_named;

constexpr const char* kKeyVariable = "DSBENCH_TEST_DIRECTOR_KEY";
constexpr const char* kKeyValue = "sk-test-9f8e7d6c5b4a-never-stored";

// Keeps every recorded call, for inspection.
class RecordingStore : public CallStore {
 public:
  std::optional<RecordedCall> find(const std::string& hash) override {
    const std::lock_guard lock(mutex_);
    for (const RecordedCall& call : calls_) {
      if (call.request_hash == hash) return call;
    }
    return std::nullopt;
  }
  void record(const RecordedCall& call) override {
    const std::lock_guard lock(mutex_);
    calls_.push_back(call);
  }
  std::vector<RecordedCall> calls() {
    const std::lock_guard lock(mutex_);
    return calls_;
  }
  // Everything the store holds, as text.
  std::string dump() {
    std::string text;
    for (const RecordedCall& call : calls()) {
      text += call.backend + call.model + call.request_hash + call.request.dump() + call.response +
              call.template_hash + call.status + "\n";
    }
    return text;
  }

 private:
  std::mutex mutex_;
  std::vector<RecordedCall> calls_;
};

std::string valid_plan_text() {
  return json::parse(R"({
    "version": 1,
    "subjects": [
      {"name": "Hansel", "kind": "boy", "description": "a boy, full body", "short_description": "a boy in green"},
      {"name": "Gretel", "kind": "girl", "description": "a girl, full body", "short_description": "a girl in red"}
    ],
    "scenes": [
      {"prompt": "Hansel and Gretel in the forest", "subjects": ["Hansel", "Gretel"],
       "rewritten_prompt": "a boy in green and a girl in red in the forest"},
      {"prompt": "Hansel drops pebbles", "subjects": ["Hansel"], "rewritten_prompt": "a boy in green drops pebbles"}
    ]})")
      .dump();
}

BackendSettings settings_for(const ChatServer& server) {
  BackendSettings settings;
  settings.name = "local";
  settings.kind = "openai";
  settings.base_url = server.base_url();
  settings.model = "test-model";
  settings.seed = 7;
  settings.timeout_s = 5.0;
  settings.api_key_env = kKeyVariable;
  settings.backoff_initial_s = 0.01;
  settings.backoff_max_s = 0.05;
  return settings;
}

class LlmDirectorTest : public ::testing::Test {
 protected:
  void SetUp() override { setenv(kKeyVariable, kKeyValue, 1); }
  void TearDown() override { unsetenv(kKeyVariable); }
};

TEST_F(LlmDirectorTest, ValidAnswerBecomesAPlanAndIsRecorded) {
  ChatServer server([](const json&, int) { return completion(valid_plan_text()); });
  auto store = std::make_shared<RecordingStore>();
  const auto director = make_director(settings_for(server), store);
  EXPECT_EQ(director->name(), "local");

  const StoryPlan plan = director->plan(story_named("hg"));
  EXPECT_EQ(plan.story_id, "hg");
  ASSERT_EQ(plan.subjects.size(), 2u);
  EXPECT_EQ(plan.subjects[0].short_prompt, "a boy in green");
  ASSERT_EQ(plan.scenes.size(), 2u);
  EXPECT_EQ(plan.scenes[0].subjects, (std::vector<int>{0, 1}));
  EXPECT_EQ(plan.scenes[1].rewritten_prompt, "a boy in green drops pebbles");

  ASSERT_EQ(server.requests(), 1);
  const json sent = server.bodies()[0];
  EXPECT_EQ(sent["model"], "test-model");
  EXPECT_EQ(sent["seed"], 7);
  EXPECT_EQ(sent["max_tokens"], 2048);
  EXPECT_EQ(sent["response_format"]["type"], "json_object");
  ASSERT_EQ(sent["messages"].size(), 2u);
  EXPECT_EQ(sent["messages"][0]["role"], "system");
  const std::string user = sent["messages"][1]["content"];
  EXPECT_NE(user.find("Story hg: Hansel and Gretel"), std::string::npos) << user;
  EXPECT_NE(user.find("Write exactly 2 scenes"), std::string::npos) << user;
  EXPECT_NE(user.find("1. Hansel and Gretel walk into the forest.\n2. Hansel drops pebbles"), std::string::npos)
      << user;
  EXPECT_EQ(server.authorizations()[0], std::string("Bearer ") + kKeyValue);

  const auto calls = store->calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].status, "valid");
  EXPECT_EQ(calls[0].tokens_in, 100);
  EXPECT_EQ(calls[0].tokens_out, 50);
  EXPECT_EQ(calls[0].request, sent);
  EXPECT_EQ(calls[0].request_hash, request_hash(server.base_url(), sent));
  EXPECT_EQ(calls[0].template_hash, load_templates("director_v1").hash);
  EXPECT_GT(calls[0].latency_ms, 0.0);

  const auto events = director->take_call_events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_TRUE(events[0].valid);
  EXPECT_FALSE(events[0].from_store);
  EXPECT_EQ(events[0].attempt, 0);
  EXPECT_EQ(events[0].http_attempts, 1);
  EXPECT_TRUE(events[0].answered);
  EXPECT_TRUE(director->take_call_events().empty());
}

TEST_F(LlmDirectorTest, MalformedJsonIsRepairedQuotingTheError) {
  ChatServer server([](const json&, int n) {
    return completion(n == 0 ? std::string("{\"subjects\": [}") : valid_plan_text());
  });
  auto store = std::make_shared<RecordingStore>();
  const auto director = make_director(settings_for(server), store);
  const StoryPlan plan = director->plan(story_named("hg"));
  EXPECT_EQ(plan.subjects.size(), 2u);
  ASSERT_EQ(server.requests(), 2);
  const json repair = server.bodies()[1];
  ASSERT_EQ(repair["messages"].size(), 4u);
  EXPECT_EQ(repair["messages"][2]["role"], "assistant");
  EXPECT_EQ(repair["messages"][2]["content"], "{\"subjects\": [}");
  const std::string repair_text = repair["messages"][3]["content"];
  EXPECT_NE(repair_text.find("Your answer could not be used: $: not valid JSON at byte 15"), std::string::npos)
      << repair_text;

  const auto events = director->take_call_events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_FALSE(events[0].valid);
  EXPECT_NE(events[0].error.find("not valid JSON"), std::string::npos);
  EXPECT_TRUE(events[1].valid);
  EXPECT_EQ(events[1].attempt, 1);
  const auto calls = store->calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].status, "invalid");
  EXPECT_EQ(calls[1].status, "valid");
}

TEST_F(LlmDirectorTest, SchemaProblemIsRepairedQuotingThePath) {
  json broken = json::parse(valid_plan_text());
  broken["scenes"][1]["subjects"] = {"Hansl"};
  ChatServer server([&](const json&, int n) { return completion(n == 0 ? broken.dump() : valid_plan_text()); });
  const auto director = make_director(settings_for(server), std::make_shared<RecordingStore>());
  director->plan(story_named("hg"));
  ASSERT_EQ(server.requests(), 2);
  const std::string repair_text = server.bodies()[1]["messages"][3]["content"];
  EXPECT_NE(repair_text.find("$.scenes[1].subjects[0]: \"Hansl\" is not one of the subjects (did you mean 'Hansel'?)"),
            std::string::npos)
      << repair_text;
}

TEST_F(LlmDirectorTest, TruncatedAnswerFailsTheStoryAfterTheRepairs) {
  const std::string text = valid_plan_text();
  ChatServer server([&](const json&, int) {
    ScriptedReply reply = completion(text.substr(0, text.size() / 3));
    reply.finish_reason = "length";
    return reply;
  });
  BackendSettings settings = settings_for(server);
  settings.max_repairs = 1;
  const auto director = make_director(settings, std::make_shared<RecordingStore>());
  try {
    director->plan(story_named("hg"));
    FAIL() << "expected a RunError";
  } catch (const core::RunError& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("story hg: director backend 'local': the answer is still invalid after 1 repair"),
              std::string::npos)
        << message;
    EXPECT_NE(message.find("truncated answer?"), std::string::npos) << message;
    EXPECT_NE(message.find("stopped at max_tokens=2048"), std::string::npos) << message;
  }
  EXPECT_EQ(server.requests(), 2);
}

TEST_F(LlmDirectorTest, PlanStoriesKeepsGoingWhenOneStoryFails) {
  ChatServer server([](const json& request, int) {
    return completion(story_id_of(request) == "bad" ? std::string("I cannot do that.") : valid_plan_text());
  });
  BackendSettings settings = settings_for(server);
  settings.max_repairs = 2;
  const auto director = make_director(settings, std::make_shared<RecordingStore>());
  const auto outcomes = plan_stories(*director, {story_named("a"), story_named("bad"), story_named("c")}, 3);
  ASSERT_EQ(outcomes.size(), 3u);
  EXPECT_TRUE(outcomes[0].ok);
  EXPECT_FALSE(outcomes[1].ok);
  EXPECT_EQ(outcomes[1].story_id, "bad");
  EXPECT_NE(outcomes[1].error.find("still invalid after 2 repair"), std::string::npos) << outcomes[1].error;
  EXPECT_TRUE(outcomes[2].ok);
  EXPECT_EQ(outcomes[2].plan.story_id, "c");
  EXPECT_EQ(server.requests(), 1 + 3 + 1);
}

TEST_F(LlmDirectorTest, TooManyRequestsHonoursRetryAfter) {
  ChatServer server([](const json&, int n) {
    if (n == 0) {
      ScriptedReply busy;
      busy.status = 429;
      busy.body = R"({"error": {"message": "rate limited"}})";
      busy.headers = {{"Retry-After", "1"}};
      return busy;
    }
    return completion(valid_plan_text());
  });
  BackendSettings settings = settings_for(server);
  settings.backoff_initial_s = 0.001;  // so only Retry-After can explain a wait of a second
  settings.backoff_max_s = 0.001;
  const auto director = make_director(settings, std::make_shared<RecordingStore>());
  const auto started = std::chrono::steady_clock::now();
  director->plan(story_named("hg"));
  const double waited_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  EXPECT_EQ(server.requests(), 2);
  EXPECT_GE(waited_s, 0.95);
  const auto events = director->take_call_events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].http_attempts, 2);
}

TEST_F(LlmDirectorTest, RetryAfterIsBounded) {
  ChatServer server([](const json&, int n) {
    if (n == 0) {
      ScriptedReply busy;
      busy.status = 503;
      busy.body = "{}";
      busy.headers = {{"Retry-After", "3600"}};
      return busy;
    }
    return completion(valid_plan_text());
  });
  BackendSettings settings = settings_for(server);
  settings.retry_after_max_s = 0.01;
  const auto director = make_director(settings, std::make_shared<RecordingStore>());
  director->plan(story_named("hg"));  // would hang for an hour if the bound were ignored
  EXPECT_EQ(server.requests(), 2);
}

TEST_F(LlmDirectorTest, ServerErrorIsRetried) {
  ChatServer server([](const json&, int n) {
    if (n < 2) {
      ScriptedReply failure;
      failure.status = 500;
      failure.body = R"({"error": "internal"})";
      return failure;
    }
    return completion(valid_plan_text());
  });
  const auto director = make_director(settings_for(server), std::make_shared<RecordingStore>());
  director->plan(story_named("hg"));
  EXPECT_EQ(server.requests(), 3);
  EXPECT_EQ(director->take_call_events().at(0).http_attempts, 3);
}

TEST_F(LlmDirectorTest, PersistentServerErrorGivesUpAfterTheRetries) {
  ChatServer server([](const json&, int) {
    ScriptedReply failure;
    failure.status = 502;
    failure.body = "bad gateway";
    return failure;
  });
  BackendSettings settings = settings_for(server);
  settings.max_retries = 2;
  const auto director = make_director(settings, std::make_shared<RecordingStore>());
  try {
    director->plan(story_named("hg"));
    FAIL() << "expected a RunError";
  } catch (const core::RunError& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("failed after 3 attempts; last problem: HTTP 502: bad gateway"), std::string::npos)
        << message;
  }
  EXPECT_EQ(server.requests(), 3);
  const auto events = director->take_call_events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_FALSE(events[0].valid);
  EXPECT_FALSE(events[0].answered);
  EXPECT_EQ(events[0].http_attempts, 3);  // every request that reached the server, though none was answered
  EXPECT_NE(events[0].error.find("HTTP 502"), std::string::npos);
}

TEST_F(LlmDirectorTest, ClientErrorIsNotRetried) {
  ChatServer server([](const json&, int) {
    ScriptedReply failure;
    failure.status = 400;
    failure.body = R"({"error": "unknown model"})";
    return failure;
  });
  const auto director = make_director(settings_for(server), std::make_shared<RecordingStore>());
  EXPECT_THROW(director->plan(story_named("hg")), core::RunError);
  EXPECT_EQ(server.requests(), 1);
  EXPECT_EQ(director->take_call_events().at(0).http_attempts, 1);
}

TEST_F(LlmDirectorTest, SlowAnswerPastTheTimeoutIsRetried) {
  ChatServer server([](const json&, int n) {
    ScriptedReply reply = completion(valid_plan_text());
    if (n == 0) reply.delay_s = 1.5;
    return reply;
  });
  BackendSettings settings = settings_for(server);
  settings.timeout_s = 0.3;
  const auto director = make_director(settings, std::make_shared<RecordingStore>());
  const StoryPlan plan = director->plan(story_named("hg"));
  EXPECT_EQ(plan.scenes.size(), 2u);
  EXPECT_EQ(server.requests(), 2);
  EXPECT_EQ(director->take_call_events().at(0).http_attempts, 2);
}

TEST_F(LlmDirectorTest, ConnectionRefusedIsARunErrorAfterRetries) {
  std::string dead_url;
  {
    ChatServer server([](const json&, int) { return completion("{}"); });
    dead_url = server.base_url();
  }
  BackendSettings settings;
  settings.name = "dead";
  settings.kind = "openai";
  settings.base_url = dead_url;
  settings.model = "m";
  settings.max_retries = 1;
  settings.backoff_initial_s = 0.001;
  const auto director = make_director(settings, nullptr);
  try {
    director->plan(story_named("hg"));
    FAIL() << "expected a RunError";
  } catch (const core::RunError& error) {
    EXPECT_NE(std::string(error.what()).find("failed after 2 attempts; last problem: could not connect"),
              std::string::npos)
        << error.what();
  }
  const auto events = director->take_call_events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].http_attempts, 2);  // both tries went out to the (closed) port
  EXPECT_FALSE(events[0].answered);
}

TEST_F(LlmDirectorTest, SecondIdenticalRunMakesNoRequests) {
  ChatServer server([](const json&, int n) {
    return completion(n == 0 ? std::string("not json") : valid_plan_text());
  });
  auto store = std::make_shared<InMemoryCallStore>();
  const std::vector<datasets::Story> stories = {story_named("hg")};
  {
    const auto first = make_director(settings_for(server), store);
    ASSERT_TRUE(plan_stories(*first, stories, 1).at(0).ok);
  }
  ASSERT_EQ(server.requests(), 2);
  EXPECT_EQ(store->size(), 2u);

  const auto second = make_director(settings_for(server), store);
  const auto outcomes = plan_stories(*second, stories, 1);
  ASSERT_TRUE(outcomes.at(0).ok);
  EXPECT_EQ(server.requests(), 2);  // the invalid first answer and its repair both came from the store
  const auto events = second->take_call_events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_TRUE(events[0].from_store);
  EXPECT_FALSE(events[0].valid);
  EXPECT_TRUE(events[1].from_store);
  EXPECT_TRUE(events[1].valid);
  EXPECT_EQ(events[1].tokens_in, 100);

  BackendSettings uncached = settings_for(server);
  uncached.cache = false;
  make_director(uncached, store)->plan(story_named("hg"));
  EXPECT_EQ(server.requests(), 3);  // asked again (and the answer is now valid at once)
}

TEST_F(LlmDirectorTest, ChangedParametersMissTheCache) {
  ChatServer server([](const json&, int) { return completion(valid_plan_text()); });
  auto store = std::make_shared<InMemoryCallStore>();
  make_director(settings_for(server), store)->plan(story_named("hg"));
  BackendSettings hotter = settings_for(server);
  hotter.temperature = 0.7;
  make_director(hotter, store)->plan(story_named("hg"));
  EXPECT_EQ(server.requests(), 2);
}

TEST_F(LlmDirectorTest, ReplayAnswersOnlyFromTheStore) {
  ChatServer server([](const json&, int) { return completion(valid_plan_text()); });
  auto store = std::make_shared<InMemoryCallStore>();
  make_director(settings_for(server), store)->plan(story_named("hg"));
  ASSERT_EQ(server.requests(), 1);

  BackendSettings replay = settings_for(server);
  replay.kind = "replay";
  unsetenv(kKeyVariable);  // replay never needs the key
  const auto director = make_director(replay, store);
  EXPECT_EQ(director->plan(story_named("hg")).subjects.size(), 2u);
  EXPECT_EQ(server.requests(), 1);

  try {
    director->plan(story_named("other"));
    FAIL() << "expected a RunError";
  } catch (const core::RunError& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("story other: director backend 'local': no recorded call for the first request of "
                           "story other (request hash "),
              std::string::npos)
        << message;
  }
  EXPECT_EQ(server.requests(), 1);
  EXPECT_THROW(make_director(replay, nullptr), core::InputError);
}

TEST_F(LlmDirectorTest, ApiKeyNeverReachesStoreOrMessages) {
  ChatServer server([](const json& request, int n) {
    if (n == 0) {
      // A careless proxy echoing the request headers back in its error.
      ScriptedReply failure;
      failure.status = 500;
      failure.body = std::string("upstream failed for Bearer ") + kKeyValue;
      return failure;
    }
    if (story_id_of(request) == "bad") {
      ScriptedReply failure;
      failure.status = 401;
      failure.body = std::string("invalid key ") + kKeyValue;
      return failure;
    }
    return completion(valid_plan_text());
  });
  auto store = std::make_shared<RecordingStore>();
  BackendSettings settings = settings_for(server);
  const auto director = make_director(settings, store);
  const auto outcomes = plan_stories(*director, {story_named("hg"), story_named("bad")}, 1);
  ASSERT_TRUE(outcomes[0].ok) << outcomes[0].error;
  ASSERT_FALSE(outcomes[1].ok);
  EXPECT_NE(outcomes[1].error.find("HTTP 401: invalid key ***"), std::string::npos) << outcomes[1].error;
  EXPECT_EQ(outcomes[1].error.find(kKeyValue), std::string::npos);
  EXPECT_EQ(store->dump().find(kKeyValue), std::string::npos);
  for (const CallEvent& event : director->take_call_events()) {
    EXPECT_EQ(event.error.find(kKeyValue), std::string::npos);
  }
  // The key went only where it belongs.
  EXPECT_EQ(server.authorizations().at(0), std::string("Bearer ") + kKeyValue);
}

TEST_F(LlmDirectorTest, UnsetKeyVariableIsNamedWithoutAnyRequest) {
  ChatServer server([](const json&, int) { return completion(valid_plan_text()); });
  BackendSettings settings = settings_for(server);
  settings.api_key_env = "DSBENCH_TEST_UNSET_KEY_VARIABLE";
  const auto director = make_director(settings, nullptr);
  try {
    director->plan(story_named("hg"));
    FAIL() << "expected a RunError";
  } catch (const core::RunError& error) {
    EXPECT_NE(std::string(error.what()).find("the environment variable DSBENCH_TEST_UNSET_KEY_VARIABLE (named by "
                                             "director.backends[].api_key_env) is not set"),
              std::string::npos)
        << error.what();
  }
  EXPECT_EQ(server.requests(), 0);
  EXPECT_EQ(director->take_call_events().at(0).http_attempts, 0);
}

TEST_F(LlmDirectorTest, ConcurrencyIsLimitedPerDirector) {
  ChatServer server([](const json&, int) {
    ScriptedReply reply = completion(valid_plan_text());
    reply.delay_s = 0.1;
    return reply;
  });
  BackendSettings settings = settings_for(server);
  settings.concurrency = 2;
  const auto director = make_director(settings, nullptr);
  std::vector<datasets::Story> stories;
  for (int i = 0; i < 6; ++i) stories.push_back(story_named("s" + std::to_string(i)));
  const auto outcomes = plan_stories(*director, stories, 6);
  for (const auto& outcome : outcomes) EXPECT_TRUE(outcome.ok) << outcome.error;
  EXPECT_EQ(server.requests(), 6);
  EXPECT_LE(server.max_in_flight(), 2);
  EXPECT_GE(server.max_in_flight(), 1);
}

TEST_F(LlmDirectorTest, StoryWithoutScenesAsksForKeyMoments) {
  ChatServer server([](const json&, int) { return completion(valid_plan_text()); });
  BackendSettings settings = settings_for(server);
  settings.max_scenes = 1;
  settings.max_repairs = 0;
  datasets::Story raw;
  raw.id = "raw";
  raw.title = "A tale";
  raw.text = "Once upon a time Hansel and Gretel...";
  raw.annotated = false;
  const auto director = make_director(settings, nullptr);
  try {
    director->plan(raw);
    FAIL() << "two scenes exceed max_scenes 1";
  } catch (const core::RunError& error) {
    EXPECT_NE(std::string(error.what()).find("$.scenes: expected at most 1 scenes, found 2"), std::string::npos)
        << error.what();
  }
  const std::string user = server.bodies().at(0)["messages"][1]["content"];
  EXPECT_NE(user.find("Once upon a time Hansel and Gretel..."), std::string::npos) << user;
  EXPECT_NE(user.find("Choose between 1 and 1 key moments"), std::string::npos) << user;
  EXPECT_EQ(user.find("Write exactly"), std::string::npos) << user;
}

TEST(Factory, SettingsProblemsAreInputErrors) {
  BackendSettings settings;
  settings.kind = "openaii";
  try {
    make_director(settings);
    FAIL();
  } catch (const core::InputError& error) {
    EXPECT_NE(std::string(error.what()).find("did you mean 'openai'"), std::string::npos) << error.what();
  }
  settings.kind = "openai";
  settings.base_url = "ftp://x";
  settings.model = "m";
  EXPECT_THROW(make_director(settings), core::InputError);
  settings.base_url = "http://127.0.0.1:1/v1";
  settings.model = "";
  EXPECT_THROW(make_director(settings), core::InputError);
  settings.model = "m";
  EXPECT_EQ(make_director(settings)->name(), "openai");
}

TEST(Endpoint, SplitsOriginAndPath) {
  EXPECT_EQ(parse_endpoint("https://api.example.com/v1").origin, "https://api.example.com");
  EXPECT_EQ(parse_endpoint("https://api.example.com/v1/").path, "/v1/chat/completions");
  EXPECT_EQ(parse_endpoint("http://127.0.0.1:8080").path, "/chat/completions");
  EXPECT_EQ(parse_endpoint("http://h:1/openai/v1/chat/completions").path, "/openai/v1/chat/completions");
  EXPECT_EQ(parse_endpoint("http://h:1/x").origin, "http://h:1");
  EXPECT_THROW(parse_endpoint("127.0.0.1:8080"), core::InputError);
  EXPECT_THROW(parse_endpoint("http:///v1"), core::InputError);
  EXPECT_THROW(parse_endpoint("http://h/v1?x=1"), core::InputError);
}

TEST(RetryAfter, SecondsOnly) {
  EXPECT_DOUBLE_EQ(parse_retry_after_seconds("3"), 3.0);
  EXPECT_DOUBLE_EQ(parse_retry_after_seconds(" 0.5 "), 0.5);
  EXPECT_LT(parse_retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT"), 0.0);
  EXPECT_LT(parse_retry_after_seconds("-1"), 0.0);
  EXPECT_LT(parse_retry_after_seconds(""), 0.0);
}

TEST(ChatResponse, ParsesContentFinishReasonAndUsage) {
  const ChatReply reply = parse_chat_response(
      R"({"choices": [{"message": {"role": "assistant", "content": "hi"}, "finish_reason": "length"}],
          "usage": {"prompt_tokens": 12, "completion_tokens": 3}})");
  EXPECT_EQ(reply.content, "hi");
  EXPECT_EQ(reply.finish_reason, "length");
  EXPECT_EQ(reply.tokens_in, 12);
  EXPECT_EQ(reply.tokens_out, 3);
  EXPECT_EQ(parse_chat_response(R"({"choices": [{"message": {"content": ""}}]})").tokens_in, 0);
  EXPECT_THROW(parse_chat_response("<html>"), core::RunError);
  EXPECT_THROW(parse_chat_response(R"({"choices": []})"), core::RunError);
  EXPECT_THROW(parse_chat_response(R"({"choices": [{"message": {"content": null}}]})"), core::RunError);
}

TEST(Templates, RenderSectionsAndHash) {
  const PromptTemplates templates = load_templates("director_v1");
  EXPECT_EQ(templates.source, "embedded");
  EXPECT_EQ(templates.hash.size(), 64u);
  EXPECT_EQ(render_template("a {{x}} b{{#y}} Y={{y}}{{/y}}{{^y}} no y{{/y}}", {{"x", "1"}}), "a 1 b no y");
  EXPECT_EQ(render_template("{{#y}}\nline {{y}}\n{{/y}}\nend", {{"y", "2"}}), "line 2\nend");
  EXPECT_THROW(render_template("{{#y}} open", {}), core::InputError);
  EXPECT_THROW(render_template("{{/y}}", {}), core::InputError);
}

TEST(Templates, DirectoryTemplatesAreCheckedAndHashed) {
  const std::filesystem::path dir = std::filesystem::path(DSBENCH_BINARY_DIR) / "director_templates_test";
  std::filesystem::create_directories(dir);
  const auto write = [&](const std::string& file, const std::string& text) {
    std::ofstream(dir / file) << text;
  };
  write("t.system.txt", "system {{schema_version}}");
  write("t.user.txt", "Story {{story_id}}: {{title}}");
  write("t.repair.txt", "fix: {{error}}");
  const PromptTemplates first = load_templates("t", dir);
  EXPECT_EQ(first.system, "system {{schema_version}}");
  write("t.repair.txt", "fix it: {{error}}");
  EXPECT_NE(load_templates("t", dir).hash, first.hash);
  write("t.user.txt", "line one\nStory {{titel}}");
  try {
    load_templates("t", dir);
    FAIL();
  } catch (const core::InputError& error) {
    EXPECT_EQ(error.where().line, 2);
    EXPECT_NE(std::string(error.what()).find("unknown placeholder '{{titel}}' (did you mean 'title'?)"),
              std::string::npos)
        << error.what();
  }
  EXPECT_THROW(load_templates("missing", dir), core::InputError);
}

}  // namespace
}  // namespace dsbench::director

namespace dsbench::director {
namespace {

// A self-signed certificate for 127.0.0.1 made with the openssl command.
std::optional<testing::ChatServer::Tls> make_certificate(const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  const testing::ChatServer::Tls tls{(dir / "cert.pem").string(), (dir / "key.pem").string()};
  const std::string command = "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 "
                              "-addext subjectAltName=IP:127.0.0.1 -keyout " + tls.private_key_file +
                              " -out " + tls.certificate_file + " >/dev/null 2>&1";
  if (std::system(command.c_str()) != 0) return std::nullopt;
  return tls;
}

TEST(Https, TrustedCertificateWorksAndAnUntrustedOneIsRefused) {
  const auto tls = make_certificate(std::filesystem::path(DSBENCH_BINARY_DIR) / "director_tls_test");
  if (!tls) GTEST_SKIP() << "the openssl command could not make a test certificate";
  ChatServer server([](const json&, int) { return completion(valid_plan_text()); }, &*tls);
  ASSERT_TRUE(server.base_url().starts_with("https://127.0.0.1:"));

  BackendSettings settings;
  settings.name = "tls";
  settings.kind = "openai";
  settings.base_url = server.base_url();
  settings.model = "m";
  settings.ca_cert_file = tls->certificate_file;
  EXPECT_EQ(make_director(settings)->plan(story_named("hg")).subjects.size(), 2u);
  EXPECT_EQ(server.requests(), 1);

  settings.ca_cert_file.clear();  // the system's CAs don't know a self-signed certificate
  try {
    make_director(settings)->plan(story_named("hg"));
    FAIL() << "expected a RunError";
  } catch (const core::RunError& error) {
    EXPECT_NE(std::string(error.what()).find("TLS certificate was not accepted"), std::string::npos) << error.what();
  }
  EXPECT_EQ(server.requests(), 1);  // refused before any request reached the handler, and not retried
}

}  // namespace
}  // namespace dsbench::director
