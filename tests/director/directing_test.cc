// harness/directing over a real SQLite run store and a loopback chat-completions server.
#include <gtest/gtest.h>

#include <cstdlib>
#include <algorithm>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>

#include "core/errors.h"
#include "harness/directing/directing.h"
#include "harness/planning/plan.h"
#include "pipeline/director/plan_json.h"
#include "tests/director/chat_server.h"
#include "tests/director/stories.h"

namespace dsbench::directing {
namespace {

using director::testing::ChatServer;
using director::testing::completion;
using director::testing::ScriptedReply;
using director::testing::story_id_of;
using director::testing::story_named;
using nlohmann::json;

constexpr const char* kKeyVariable = "DSBENCH_TEST_DIRECTING_KEY";
constexpr const char* kKeyValue = "sk-directing-5e4d3c2b1a-must-not-persist";

std::string valid_plan_text() {
  return R"({"version": 1,
    "subjects": [
      {"name": "Hansel", "kind": "boy", "description": "a boy, full body", "short_description": "a boy in green"},
      {"name": "Gretel", "kind": "girl", "description": "a girl, full body", "short_description": "a girl in red"}],
    "scenes": [
      {"prompt": "Hansel and Gretel in the forest", "subjects": ["Hansel", "Gretel"],
       "rewritten_prompt": "a boy in green and a girl in red in the forest"},
      {"prompt": "Hansel drops pebbles", "subjects": ["Hansel"], "rewritten_prompt": "Hansel drops pebbles"}]})";
}

harness::DirectorBackendConfig openai_backend(const ChatServer& server, const std::string& name) {
  harness::DirectorBackendConfig backend;
  backend.name = name;
  backend.kind = "openai";
  backend.base_url = server.base_url();
  backend.model = "test-model";
  backend.api_key_env = kKeyVariable;
  backend.concurrency = 2;
  return backend;
}

harness::DirectorBackendConfig oracle_backend() {
  harness::DirectorBackendConfig backend;
  backend.name = "oracle";
  backend.kind = "oracle";
  return backend;
}

std::string read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

class DirectingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    setenv(kKeyVariable, kKeyValue, 1);
    folder_ = std::filesystem::path(DSBENCH_BINARY_DIR) / "directing_test" /
              ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(folder_);
    std::filesystem::create_directories(folder_);
    config_.source = (folder_ / "config.yaml").string();
  }
  void TearDown() override { unsetenv(kKeyVariable); }

  store::Store open_store() { return store::Store::open(folder_ / "runs.sqlite"); }
  store::RunId new_run(store::Store& store) {
    return store.create_run(store::NewRun{.name = "t", .config_json = "{}", .config_hash = "h",
                                          .project_version = "test", .host = "host",
                                          .output_dir = folder_.string()});
  }
  // Every byte the store left on disk (database, WAL, shared memory).
  std::string store_bytes() const {
    std::string bytes;
    for (const auto& entry : std::filesystem::directory_iterator(folder_)) bytes += read_bytes(entry.path());
    return bytes;
  }

  std::filesystem::path folder_;
  harness::RunConfig config_;
};

std::map<std::string, double> run_level(const store::Store& store, store::RunId run, const std::string& system) {
  std::map<std::string, double> values;
  for (const store::MetricValue& value : store.metric_values(run)) {
    if (value.system == system && value.story.empty()) values[value.metric] = value.value;
  }
  return values;
}

TEST_F(DirectingTest, BackendsAreScoredAndASecondRunIsFreeAndTheKeyNeverPersists) {
  ChatServer server([](const json&, int) { return completion(valid_plan_text()); });
  config_.director.backends = {openai_backend(server, "llm-a"), oracle_backend()};
  const std::vector<datasets::Story> stories = {story_named("s1"), story_named("s2"), story_named("s3")};
  std::ostringstream log;
  {
    store::Store store = open_store();
    const store::RunId run = new_run(store);
    const RunDirection direction = plan_run(config_, store, run, stories, Options{.log = &log});
    ASSERT_EQ(direction.backends.size(), 2u);
    EXPECT_TRUE(direction.errors().empty());
    ASSERT_NE(direction.plan_of("llm-a", "s2"), nullptr);
    EXPECT_EQ(direction.plan_of("llm-a", "s2")->subjects.size(), 2u);
    EXPECT_NE(direction.plan_of("oracle", "s1"), nullptr);
    EXPECT_EQ(direction.plan_of("nobody", "s1"), nullptr);
    EXPECT_EQ(server.requests(), 3);
    EXPECT_LE(server.max_in_flight(), 2);

    const auto llm = run_level(store, run, "director:llm-a");
    EXPECT_DOUBLE_EQ(llm.at("director.plan_success_rate"), 1.0);
    EXPECT_DOUBLE_EQ(llm.at("director.json_valid_first_try"), 1.0);
    EXPECT_DOUBLE_EQ(llm.at("director.repair_rate"), 0.0);
    EXPECT_DOUBLE_EQ(llm.at("director.subject_recall"), 1.0);
    EXPECT_DOUBLE_EQ(llm.at("director.scene_subject_accuracy"), 1.0);
    EXPECT_DOUBLE_EQ(llm.at("director.rewrite_coverage"), 0.5);  // "Hansel drops pebbles" keeps the name
    EXPECT_DOUBLE_EQ(llm.at("director.tokens_in"), 300.0);
    EXPECT_DOUBLE_EQ(llm.at("director.tokens_out"), 150.0);
    EXPECT_DOUBLE_EQ(llm.at("director.http_requests"), 3.0);
    EXPECT_GT(llm.at("director.latency_p95_ms"), 0.0);
    const auto oracle = run_level(store, run, "director:oracle");
    EXPECT_DOUBLE_EQ(oracle.at("director.rewrite_coverage"), 1.0);
    EXPECT_FALSE(oracle.contains("director.tokens_in"));

    std::size_t story_rows = 0;
    for (const store::MetricValue& value : store.metric_values(run, "director.subject_recall")) {
      if (!value.story.empty()) {
        ++story_rows;
        EXPECT_EQ(value.extra.at("level"), "story");
      } else {
        EXPECT_EQ(value.extra.at("level"), "run");
      }
    }
    EXPECT_EQ(story_rows, 6u);  // 3 stories x 2 backends
    EXPECT_EQ(store.director_call_count(), 3u);
  }
  EXPECT_NE(log.str().find("director llm-a (openai): 3/3 stories planned"), std::string::npos) << log.str();

  // The same config again, in a new run of the same store file: no request at all.
  {
    store::Store store = open_store();
    const store::RunId run = new_run(store);
    const RunDirection direction = plan_run(config_, store, run, stories, Options{.log = &log});
    EXPECT_TRUE(direction.errors().empty());
    EXPECT_EQ(server.requests(), 3);
    const auto llm = run_level(store, run, "director:llm-a");
    EXPECT_DOUBLE_EQ(llm.at("director.calls_from_store"), 3.0);
    EXPECT_DOUBLE_EQ(llm.at("director.http_requests"), 0.0);
    EXPECT_DOUBLE_EQ(llm.at("director.tokens_in"), 300.0);  // recorded usage
  }
  // --no-cache asks again.
  {
    store::Store store = open_store();
    const store::RunId run = new_run(store);
    plan_run(config_, store, run, {story_named("s1")}, Options{.no_cache = true});
    EXPECT_EQ(server.requests(), 4);
  }

  ASSERT_EQ(server.authorizations().at(0), std::string("Bearer ") + kKeyValue);  // it was really used
  const std::string bytes = store_bytes();
  EXPECT_NE(bytes.find("test-model"), std::string::npos);  // the calls are in the file...
  EXPECT_EQ(bytes.find(kKeyValue), std::string::npos);     // ...the key is not
  EXPECT_EQ(log.str().find(kKeyValue), std::string::npos);
}

TEST_F(DirectingTest, AFailedStoryIsReportedAndTheOthersArePlanned) {
  ChatServer server([](const json& request, int) {
    if (story_id_of(request) == "bad") {
      ScriptedReply failure;
      failure.status = 401;
      failure.body = std::string("{\"error\": \"bad key ") + kKeyValue + "\"}";
      return failure;
    }
    return completion(valid_plan_text());
  });
  config_.director.backends = {openai_backend(server, "llm-a")};
  store::Store store = open_store();
  const store::RunId run = new_run(store);
  std::ostringstream log;
  const RunDirection direction =
      plan_run(config_, store, run, {story_named("good"), story_named("bad")}, Options{.log = &log});
  ASSERT_EQ(direction.errors().size(), 1u);
  EXPECT_NE(direction.errors()[0].find("story bad (director llm-a): "), std::string::npos);
  EXPECT_EQ(direction.plan_of("llm-a", "bad"), nullptr);
  EXPECT_NE(direction.plan_of("llm-a", "good"), nullptr);
  const auto scores = run_level(store, run, "director:llm-a");
  EXPECT_DOUBLE_EQ(scores.at("director.plan_success_rate"), 0.5);
  EXPECT_DOUBLE_EQ(scores.at("director.http_requests"), 2.0);  // the refused request counts too
  EXPECT_NE(log.str().find("cannot plan story bad (director llm-a)"), std::string::npos) << log.str();
  EXPECT_NE(log.str().find(", 2 HTTP request(s), 0 answer(s) from the store"), std::string::npos) << log.str();
  EXPECT_EQ(log.str().find(kKeyValue), std::string::npos) << log.str();
  EXPECT_EQ(store_bytes().find(kKeyValue), std::string::npos);
}

TEST_F(DirectingTest, ReplayBackendAnswersFromTheRunStore) {
  ChatServer server([](const json&, int) { return completion(valid_plan_text()); });
  config_.director.backends = {openai_backend(server, "llm-a")};
  store::Store store = open_store();
  plan_run(config_, store, new_run(store), {story_named("s1")});
  ASSERT_EQ(server.requests(), 1);

  harness::DirectorBackendConfig replay = openai_backend(server, "llm-a");
  replay.kind = "replay";
  config_.director.backends = {replay};
  const RunDirection direction = plan_run(config_, store, new_run(store), {story_named("s1"), story_named("s9")});
  EXPECT_EQ(server.requests(), 1);
  EXPECT_NE(direction.plan_of("llm-a", "s1"), nullptr);
  ASSERT_EQ(direction.errors().size(), 1u);
  EXPECT_NE(direction.errors()[0].find("no recorded call"), std::string::npos) << direction.errors()[0];
}

TEST_F(DirectingTest, OnlyTheNamedBackendsPlan) {
  ChatServer server([](const json&, int) { return completion(valid_plan_text()); });
  config_.director.backends = {openai_backend(server, "llm-a"), oracle_backend()};
  store::Store store = open_store();
  const RunDirection direction =
      plan_run(config_, store, new_run(store), {story_named("s1")}, Options{.backends = {"oracle"}});
  ASSERT_EQ(direction.backends.size(), 1u);
  EXPECT_EQ(direction.backends[0].backend, "oracle");
  EXPECT_EQ(server.requests(), 0);
  try {
    plan_run(config_, store, new_run(store), {story_named("s1")}, Options{.backends = {"orcale"}});
    FAIL();
  } catch (const core::InputError& error) {
    EXPECT_NE(std::string(error.what()).find("no director backend named 'orcale' (did you mean 'oracle'?)"),
              std::string::npos)
        << error.what();
  }
}

TEST_F(DirectingTest, BadBackendSettingsNameTheConfigField) {
  harness::DirectorBackendConfig backend;
  backend.name = "oracle";
  backend.kind = "oracle";
  harness::DirectorBackendConfig broken;
  broken.name = "llm";
  broken.kind = "openai";
  broken.base_url = "127.0.0.1:8080";
  broken.model = "m";
  config_.director.backends = {backend, broken};
  store::Store store = open_store();
  try {
    plan_run(config_, store, new_run(store), {story_named("s1")});
    FAIL();
  } catch (const core::InputError& error) {
    EXPECT_EQ(error.where().field, "director.backends[1].base_url");
    EXPECT_EQ(error.where().file, config_.source);
    EXPECT_NE(std::string(error.what()).find("is not an http:// or https:// URL"), std::string::npos) << error.what();
  }
}

TEST(BackendSettings, MapsEveryConfigField) {
  harness::RunConfig config;
  config.director.templates_dir = "/tmp/templates";
  harness::DirectorBackendConfig backend;
  backend.kind = "openai";
  backend.base_url = "http://h/v1";
  backend.model = "m";
  backend.temperature = 0.3;
  backend.seed = 11;
  backend.max_tokens = 99;
  backend.timeout_s = 2.5;
  backend.api_key_env = "KEY";
  backend.concurrency = 3;
  backend.max_repairs = 4;
  backend.cache = true;
  const director::BackendSettings settings = backend_settings(config, backend);
  EXPECT_EQ(settings.name, "openai");
  EXPECT_EQ(settings.base_url, "http://h/v1");
  EXPECT_EQ(settings.model, "m");
  EXPECT_DOUBLE_EQ(settings.temperature, 0.3);
  EXPECT_EQ(settings.seed, 11);
  EXPECT_EQ(settings.max_tokens, 99);
  EXPECT_DOUBLE_EQ(settings.timeout_s, 2.5);
  EXPECT_EQ(settings.api_key_env, "KEY");
  EXPECT_EQ(settings.concurrency, 3);
  EXPECT_EQ(settings.max_repairs, 4);
  EXPECT_TRUE(settings.cache);
  EXPECT_EQ(settings.templates_dir, "/tmp/templates");
  EXPECT_FALSE(backend_settings(config, backend, /*no_cache=*/true).cache);
  EXPECT_EQ(metric_system("llm-a"), "director:llm-a");
}

}  // namespace
}  // namespace dsbench::directing

namespace dsbench::directing {
namespace {

TEST(LlmCompareConfig, LoadsWithThreeBackendsAndOneSystemEach) {
  const std::filesystem::path file = std::filesystem::path(DSBENCH_SOURCE_DIR) / "configs" / "llm-compare.yaml";
  const harness::RunConfig config =
      harness::load_config(file, {"director.backends[0].base_url=http://127.0.0.1:1234/v1"});
  ASSERT_EQ(config.director.backends.size(), 3u);
  EXPECT_EQ(config.director.backends[0].name, "llm-a");
  EXPECT_EQ(config.director.backends[0].base_url, "http://127.0.0.1:1234/v1");
  EXPECT_EQ(config.director.backends[1].kind, "openai");
  EXPECT_FALSE(config.director.backends[1].base_url.empty());
  EXPECT_EQ(config.director.backends[2].kind, "oracle");
  ASSERT_EQ(config.systems.size(), 3u);
  EXPECT_EQ(config.systems[0].director, "llm-a");
  EXPECT_EQ(config.systems[1].director, "llm-b");
  EXPECT_EQ(config.systems[2].director, "oracle");
  for (const auto& backend : config.director.backends) {
    EXPECT_NO_THROW(backend_settings(config, backend));
  }
}

}  // namespace
}  // namespace dsbench::directing

namespace dsbench::directing {
namespace {

// configs/llm-compare.yaml as a user runs it against a compatible server: both LLM
// backends pointed at a loopback server (--set), the authored sample's stories. The
// server answers with the stories' annotations as the schema's JSON; for model B the
// first answer of every other story is cut short, so B needs repairs.
TEST_F(DirectingTest, LlmCompareConfigAgainstALoopbackServer) {
  const std::filesystem::path file = std::filesystem::path(DSBENCH_SOURCE_DIR) / "configs" / "llm-compare.yaml";
  std::map<std::string, datasets::Story> by_id;
  std::mutex mutex;
  std::map<std::string, int> b_requests;
  ChatServer server([&](const json& request, int) {
    const std::string id = story_id_of(request);
    const std::string answer = director::story_plan_to_json(director::oracle_plan(by_id.at(id))).dump();
    if (request["model"] == "model-b" && request["messages"].size() == 2) {
      const std::lock_guard lock(mutex);
      if (b_requests[id]++ == 0 && id.back() % 2 == 0) {
        return completion(answer.substr(0, answer.size() / 2));
      }
    }
    return completion(answer);
  });
  const std::vector<std::string> overrides = {
      "director.backends[0].base_url=" + server.base_url(), "director.backends[1].base_url=" + server.base_url(),
      "director.backends[0].model=model-a", "director.backends[1].model=model-b",
      std::string("director.backends[0].api_key_env=") + kKeyVariable,
      "store.url=" + (folder_ / "runs.sqlite").string()};
  const harness::RunConfig config = harness::load_config(file, overrides);
  const datasets::Dataset selected = planning::load_selected_dataset(config);
  ASSERT_EQ(selected.stories.size(), 5u);
  for (const auto& story : selected.stories) by_id[story.id] = story;
  std::size_t cut = 0;
  for (const auto& story : selected.stories) cut += story.id.back() % 2 == 0 ? 1 : 0;
  ASSERT_GT(cut, 0u);
  ASSERT_LT(cut, 5u);

  std::ostringstream log;
  {
    store::Store store = store::Store::open(config.store.url);
    const store::RunId run = new_run(store);
    const RunDirection direction = plan_run(config, store, run, selected.stories, Options{.log = &log});
    EXPECT_TRUE(direction.errors().empty()) << log.str();
    ASSERT_EQ(direction.backends.size(), 3u);
    EXPECT_EQ(server.requests(), static_cast<int>(10 + cut));
    for (const std::string backend : {"llm-a", "llm-b", "oracle"}) {
      const auto values = run_level(store, run, metric_system(backend));
      EXPECT_DOUBLE_EQ(values.at("director.plan_success_rate"), 1.0) << backend;
      EXPECT_DOUBLE_EQ(values.at("director.subject_recall"), 1.0) << backend;
      EXPECT_DOUBLE_EQ(values.at("director.subject_precision"), 1.0) << backend;
      EXPECT_DOUBLE_EQ(values.at("director.scene_subject_accuracy"), 1.0) << backend;
    }
    const auto a = run_level(store, run, "director:llm-a");
    const auto b = run_level(store, run, "director:llm-b");
    EXPECT_DOUBLE_EQ(a.at("director.json_valid_first_try"), 1.0);
    EXPECT_DOUBLE_EQ(b.at("director.json_valid_first_try"), 1.0 - cut / 5.0);
    EXPECT_DOUBLE_EQ(b.at("director.repair_rate"), cut / 5.0);
    EXPECT_DOUBLE_EQ(a.at("director.http_requests"), 5.0);
    std::cout << log.str();
  }
  {
    store::Store store = store::Store::open(config.store.url);
    plan_run(config, store, new_run(store), selected.stories, Options{.log = &log});
    EXPECT_EQ(server.requests(), static_cast<int>(10 + cut));  // all answers from the store
  }
  const auto sent = server.authorizations();
  EXPECT_EQ(std::count(sent.begin(), sent.end(), std::string("Bearer ") + kKeyValue), 5);  // llm-a only
  EXPECT_EQ(store_bytes().find(kKeyValue), std::string::npos);
  EXPECT_EQ(log.str().find(kKeyValue), std::string::npos);
}

}  // namespace
}  // namespace dsbench::directing
