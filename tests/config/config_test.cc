// Run configs: extends chains, --set overrides, ${VAR} expansion, path resolution, the
// canonical hash, the stored-config round trip, the shipped configs, and every kind of
// malformed config, each error naming its file, line and key.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "core/errors.h"
#include "harness/config/config.h"

namespace dsbench::harness {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// A fresh folder per test with helpers to write config files into it.
class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / ("dsbench_config_test_" + std::to_string(::getpid())) / info->name();
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "data");
  }
  void TearDown() override { fs::remove_all(dir_.parent_path()); }

  fs::path write(const std::string& name, const std::string& text) {
    const fs::path path = dir_ / name;
    fs::create_directories(path.parent_path());
    std::ofstream(path) << text;
    return path;
  }

  // A minimal valid config body (dataset root exists).
  static std::string minimal() { return "dataset:\n  root: data\nsystems:\n  - type: vanilla\n"; }

  // The single problem check_config reports; fails the test if there is not exactly one.
  core::InputError only_problem(const fs::path& path, const std::vector<std::string>& overrides = {}) {
    const auto problems = check_config(path, overrides);
    EXPECT_EQ(problems.size(), 1u) << [&] {
      std::string all;
      for (const auto& p : problems) all += std::string(p.what()) + "\n";
      return all;
    }();
    if (problems.empty()) return core::InputError("no problem reported");
    return problems.front();
  }

  void expect_location(const core::InputError& error, const fs::path& file, int line, const std::string& key) {
    EXPECT_EQ(error.where().file, file.lexically_normal().string()) << error.what();
    EXPECT_EQ(error.where().line, line) << error.what();
    EXPECT_EQ(error.where().field, key) << error.what();
    EXPECT_THAT(error.what(), HasSubstr(file.filename().string() + ":" + std::to_string(line) + ": " + key));
  }

  fs::path dir_;
};

class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) ::setenv(name, value, 1); else ::unsetenv(name);
  }
  ~ScopedEnv() {
    if (old_) ::setenv(name_.c_str(), old_->c_str(), 1); else ::unsetenv(name_.c_str());
  }

 private:
  std::string name_;
  std::optional<std::string> old_;
};

// ---------------------------------------------------------------- happy paths

TEST_F(ConfigTest, MinimalConfigGetsEveryDefault) {
  const auto path = write("run.yaml", minimal());
  const RunConfig config = load_config(path);
  EXPECT_EQ(config.name, "run");  // the file's stem
  EXPECT_EQ(config.dataset.root, (dir_ / "data").string());
  EXPECT_EQ(config.dataset.format, "auto");
  ASSERT_EQ(config.systems.size(), 1u);
  EXPECT_EQ(config.systems[0].name, "vanilla");
  EXPECT_EQ(config.systems[0].type, "vanilla");
  EXPECT_EQ(config.systems[0].params, nlohmann::json::object());
  ASSERT_EQ(config.director.backends.size(), 1u);
  EXPECT_EQ(config.director.backends[0].kind, "oracle");
  EXPECT_EQ(config.director.backends[0].name, "oracle");
  EXPECT_EQ(config.director.backends[0].max_tokens, 2048);
  EXPECT_EQ(config.model.profile, "tiny");
  EXPECT_EQ(config.sampler.steps, 50);
  EXPECT_DOUBLE_EQ(config.sampler.guidance, 7.5);
  EXPECT_EQ(config.sampler.seeds, std::vector<std::uint64_t>{0});
  EXPECT_EQ(config.store.url, (dir_ / "runs/dsbench.sqlite").string());
  EXPECT_EQ(config.output_dir, (dir_ / "runs").string());
  EXPECT_EQ(config.source, path.string());
  EXPECT_EQ(config.hash.size(), 64u);
  EXPECT_EQ(config.resolved["sampler"]["steps"], 50);
  EXPECT_EQ(config.resolved["systems"][0]["name"], "vanilla");
}

TEST_F(ConfigTest, ExtendsChainMergesMapsAndReplacesLists) {
  write("bases/root.yaml",
        "sampler:\n  steps: 10\n  guidance: 5.0\n  seeds: [1, 2, 3]\nmetrics: [dnc_ds]\n"
        "output_dir: out-root\n");
  write("bases/middle.yaml",
        "extends: root.yaml\nsampler:\n  steps: 20\n  seeds: [7]\nmodel:\n  threads: 3\n");
  const auto top = write("top.yaml", "extends: bases/middle.yaml\n" + minimal() + "sampler:\n  width: 64\n");
  const RunConfig config = load_config(top);
  EXPECT_EQ(config.sampler.steps, 20);           // middle over root
  EXPECT_DOUBLE_EQ(config.sampler.guidance, 5.0);  // from root, kept by the deep merge
  EXPECT_EQ(config.sampler.width, 64);           // top
  EXPECT_EQ(config.sampler.height, 512);         // schema default
  EXPECT_EQ(config.sampler.seeds, std::vector<std::uint64_t>{7});  // list replaced, not appended
  EXPECT_EQ(config.model.threads, 3);
  EXPECT_EQ(config.metrics, std::vector<std::string>{"dnc_ds"});
  // Relative to the file that set it (bases/), not to the top file.
  EXPECT_EQ(config.output_dir, (dir_ / "bases" / "out-root").string());
  EXPECT_FALSE(config.resolved.contains("extends"));
}

TEST_F(ConfigTest, ExtendsListMergesInOrder) {
  write("a.yaml", "sampler:\n  steps: 1\n  width: 16\n");
  write("b.yaml", "sampler:\n  steps: 2\n");
  const auto top = write("top.yaml", "extends: [a.yaml, b.yaml]\n" + minimal());
  const RunConfig config = load_config(top);
  EXPECT_EQ(config.sampler.steps, 2);
  EXPECT_EQ(config.sampler.width, 16);
}

TEST_F(ConfigTest, OverridesWithListIndicesAndFlowValues) {
  const auto path = write("run.yaml",
                          "dataset:\n  root: data\nsystems:\n  - type: vanilla\n  - type: dreamstory\n"
                          "    params:\n      lambda: 0.9\n      start_layer: 36\n"
                          "director:\n  backends:\n    - kind: openai\n      base_url: http://a\n      model: m\n");
  const RunConfig config = load_config(
      path, {"systems[1].params.lambda=0.8", "director.backends[0].base_url=http://127.0.0.1:8080/v1",
             "sampler.seeds=[1, 2]", "sampler.steps=4", "systems[2].type=consistory",
             "systems[1].params.mode={a: 1, b: [x, 'y']}", "store=postgresql://db/dsbench", "name=my run"});
  ASSERT_EQ(config.systems.size(), 3u);
  EXPECT_DOUBLE_EQ(config.systems[1].params["lambda"].get<double>(), 0.8);
  EXPECT_EQ(config.systems[1].params["start_layer"], 36);  // untouched sibling
  EXPECT_EQ(config.systems[1].params["mode"], (nlohmann::json{{"a", 1}, {"b", {"x", "y"}}}));
  EXPECT_EQ(config.systems[2].type, "consistory");  // index == size appends
  EXPECT_EQ(config.systems[2].name, "consistory");
  EXPECT_EQ(config.director.backends[0].base_url, "http://127.0.0.1:8080/v1");
  EXPECT_EQ(config.sampler.seeds, (std::vector<std::uint64_t>{1, 2}));
  EXPECT_EQ(config.sampler.steps, 4);
  EXPECT_EQ(config.store.url, "postgresql://db/dsbench");  // a URL is not a path
  EXPECT_EQ(config.name, "my run");
}

TEST_F(ConfigTest, OverrideChangesTheHash) {
  const auto path = write("run.yaml", minimal());
  EXPECT_NE(load_config(path).hash, load_config(path, {"sampler.steps=4"}).hash);
  EXPECT_EQ(load_config(path, {"sampler.steps=50"}).hash, load_config(path).hash);  // same resolved value
}

TEST_F(ConfigTest, EnvironmentExpansion) {
  fs::create_directories(dir_ / "from-env");
  const ScopedEnv root("DSBENCH_TEST_ROOT", (dir_ / "from-env").c_str());
  const ScopedEnv unset("DSBENCH_TEST_UNSET", nullptr);
  const ScopedEnv tag("DSBENCH_TEST_TAG", "v7");
  const auto path = write("run.yaml",
                          "name: run-${DSBENCH_TEST_TAG}\ndataset:\n  root: ${DSBENCH_TEST_ROOT}\n"
                          "systems:\n  - type: vanilla\n    params:\n      prompt: 'cost $${HOME}'\n"
                          "output_dir: ${DSBENCH_TEST_UNSET:-out}/x\n");
  const RunConfig config = load_config(path);
  EXPECT_EQ(config.name, "run-v7");
  EXPECT_EQ(config.dataset.root, (dir_ / "from-env").string());
  EXPECT_EQ(config.output_dir, (dir_ / "out" / "x").string());  // a default resolves against the file
  EXPECT_EQ(config.systems[0].params["prompt"], "cost ${HOME}");  // $${ escapes
}

TEST_F(ConfigTest, RelativeEnvironmentPathResolvesAgainstTheCurrentDirectory) {
  const fs::path old = fs::current_path();
  fs::create_directories(dir_ / "cwd" / "data");
  fs::current_path(dir_ / "cwd");
  const ScopedEnv root("DSBENCH_TEST_ROOT", "data");
  const auto path = write("configs/run.yaml", "dataset:\n  root: ${DSBENCH_TEST_ROOT}\nsystems: [{type: vanilla}]\n");
  const RunConfig config = load_config(path);
  fs::current_path(old);
  EXPECT_EQ(config.dataset.root, (dir_ / "cwd" / "data").string());
}

TEST_F(ConfigTest, HashIsStableAcrossKeyOrderAndFormatting) {
  const auto a = write("a.yaml",
                       "dataset:\n  root: data\n  limit: 3\nsystems:\n  - type: vanilla\n"
                       "sampler:\n  steps: 4\n  guidance: 7.5\n");
  const auto b = write("b.yaml",
                       "sampler: {guidance: 7.50, steps: 4}\n# a comment\nsystems: [{type: vanilla, name: vanilla}]\n"
                       "dataset: {limit: 3, root: ./data/}\nname: a\n");
  const RunConfig config_a = load_config(a);
  const RunConfig config_b = load_config(b);
  EXPECT_EQ(config_a.resolved, config_b.resolved);
  EXPECT_EQ(config_a.hash, config_b.hash);
  EXPECT_EQ(config_a.hash, load_config(a).hash);
  const RunConfig changed = load_config(a, {"sampler.guidance=7.0"});
  EXPECT_NE(changed.hash, config_a.hash);
  // The canonical dump has sorted keys.
  const std::string dump = config_a.resolved.dump();
  EXPECT_LT(dump.find("\"dataset\""), dump.find("\"sampler\""));
  EXPECT_LT(dump.find("\"guidance\""), dump.find("\"steps\""));
}

TEST_F(ConfigTest, ConfigFromResolvedRoundTrips) {
  const auto path = write("run.yaml",
                          "dataset:\n  root: data\n  stories: [a, b]\nsystems:\n  - type: vanilla\n"
                          "  - type: dreamstory\n    name: ds\n    params: {lambda: 0.9, layers: [1, 2]}\n"
                          "sampler:\n  seeds: [18446744073709551615, 3]\n"
                          "director:\n  backends:\n    - {kind: openai, base_url: 'http://x', model: m, "
                          "api_key_env: KEY, temperature: 0.7, cache: false}\n");
  const RunConfig original = load_config(path);
  const RunConfig stored = config_from_resolved(nlohmann::json::parse(original.resolved.dump()));
  EXPECT_EQ(stored.resolved, original.resolved);
  EXPECT_EQ(stored.hash, original.hash);
  EXPECT_EQ(stored.name, original.name);
  EXPECT_EQ(stored.dataset.root, original.dataset.root);
  EXPECT_EQ(stored.dataset.stories, original.dataset.stories);
  ASSERT_EQ(stored.systems.size(), 2u);
  EXPECT_EQ(stored.systems[1].name, "ds");
  EXPECT_EQ(stored.systems[1].params, original.systems[1].params);
  EXPECT_EQ(stored.sampler.seeds, (std::vector<std::uint64_t>{18446744073709551615ull, 3}));
  EXPECT_EQ(stored.director.backends[0].api_key_env, "KEY");
  EXPECT_DOUBLE_EQ(stored.director.backends[0].temperature, 0.7);
  EXPECT_FALSE(stored.director.backends[0].cache);
  EXPECT_EQ(stored.store.url, original.store.url);
  EXPECT_EQ(stored.output_dir, original.output_dir);
}

TEST_F(ConfigTest, ConfigFromResolvedKeepsLiteralDollarsAndRejectsBadDocuments) {
  const auto path = write("run.yaml", minimal() + "description: 'price $${X}'\n");
  const RunConfig original = load_config(path);
  EXPECT_EQ(original.description, "price ${X}");
  EXPECT_EQ(config_from_resolved(original.resolved).description, "price ${X}");  // not expanded again

  nlohmann::json broken = original.resolved;
  broken["sampler"]["steps"] = "many";
  try {
    config_from_resolved(broken);
    FAIL() << "expected an InputError";
  } catch (const core::InputError& error) {
    EXPECT_EQ(error.where().file, "stored config");
    EXPECT_EQ(error.where().field, "sampler.steps");
  }
  EXPECT_THROW(config_from_resolved(nlohmann::json::array()), core::InputError);
}

TEST_F(ConfigTest, ShippedConfigsLoad) {
  const fs::path configs = fs::path(DSBENCH_SOURCE_DIR) / "configs";
  // The datasets they name may be absent on this machine: point them at a folder that exists.
  const ScopedEnv root("DS500_ROOT", dir_.c_str());
  const std::vector<std::string> sample_root = {"dataset.root=" + (dir_ / "data").string()};

  const RunConfig base = load_config(configs / "base.yaml", {"dataset.root=" + dir_.string(), "systems=[{type: vanilla}]"});
  EXPECT_EQ(base.store.url, (fs::path(DSBENCH_SOURCE_DIR) / "runs/dsbench.sqlite").lexically_normal().string());
  EXPECT_EQ(base.output_dir, (fs::path(DSBENCH_SOURCE_DIR) / "runs").lexically_normal().string());
  EXPECT_EQ(base.director.backends.at(0).kind, "oracle");
  EXPECT_FALSE(base.metrics.empty());

  const RunConfig smoke = load_config(configs / "smoke.yaml", sample_root);
  EXPECT_EQ(smoke.name, "smoke");
  EXPECT_EQ(smoke.dataset.limit, 3);
  EXPECT_EQ(smoke.dataset.max_scenes, 2);
  EXPECT_EQ(smoke.model.profile, "tiny");
  EXPECT_EQ(smoke.sampler.width, 64);
  EXPECT_EQ(smoke.sampler.height, 64);
  EXPECT_EQ(smoke.sampler.steps, 4);
  EXPECT_DOUBLE_EQ(smoke.sampler.guidance, 7.5);
  EXPECT_EQ(smoke.sampler.seeds, std::vector<std::uint64_t>{0});
  ASSERT_FALSE(smoke.systems.empty());
  EXPECT_EQ(smoke.systems[0].type, "vanilla");
  if (fs::exists(fs::path(DSBENCH_SOURCE_DIR) / "datasets/ds500-sample")) {
    EXPECT_EQ(load_config(configs / "smoke.yaml").dataset.root,
              (fs::path(DSBENCH_SOURCE_DIR) / "datasets/ds500-sample").lexically_normal().string());
  }

  const RunConfig ds500 = load_config(configs / "ds500.yaml");
  EXPECT_EQ(ds500.dataset.root, dir_.string());  // from DS500_ROOT
  EXPECT_EQ(ds500.model.profile, "sd15");
  EXPECT_EQ(ds500.sampler.width, 512);
  EXPECT_EQ(ds500.sampler.steps, 50);
  EXPECT_DOUBLE_EQ(ds500.sampler.guidance, 7.0);
  std::vector<std::string> types;
  for (const auto& system : ds500.systems) types.push_back(system.type);
  EXPECT_EQ(types, (std::vector<std::string>{"vanilla", "dreamstory", "storydiffusion", "consistory",
                                             "dreamstory-no-mmsa", "dreamstory-no-mmca", "dreamstory-no-masks",
                                             "dreamstory-no-rewrite"}));
  const fs::path shared_ds500 = fs::path(DSBENCH_SHARED_DIR) / "data/ds500";
  if (fs::exists(shared_ds500)) {
    const ScopedEnv no_root("DS500_ROOT", nullptr);
    EXPECT_EQ(load_config(configs / "ds500.yaml").dataset.root, fs::canonical(shared_ds500).string());
  }
}

// ---------------------------------------------------------------- malformed configs

TEST_F(ConfigTest, UnknownKeySuggestsTheNearestKnownOne) {
  const auto path = write("run.yaml", minimal() + "sampler:\n  steps: 4\n  guidence: 7.0\n");
  const auto error = only_problem(path);
  expect_location(error, path, 7, "sampler.guidence");
  EXPECT_THAT(error.what(), HasSubstr("unknown key 'guidence'"));
  EXPECT_THAT(error.what(), HasSubstr("did you mean 'guidance'"));
}

TEST_F(ConfigTest, UnknownTopLevelKey) {
  const auto path = write("run.yaml", minimal() + "sytems: []\n");
  const auto error = only_problem(path);
  expect_location(error, path, 5, "sytems");
  EXPECT_THAT(error.what(), HasSubstr("did you mean 'systems'"));
}

TEST_F(ConfigTest, WrongType) {
  const auto path = write("run.yaml", minimal() + "sampler:\n  steps: four\n");
  const auto error = only_problem(path);
  expect_location(error, path, 6, "sampler.steps");
  EXPECT_THAT(error.what(), HasSubstr("expected an integer, got 'four'"));
}

TEST_F(ConfigTest, QuotedNumberIsAString) {
  const auto path = write("run.yaml", minimal() + "sampler:\n  guidance: \"7.5\"\n");
  const auto error = only_problem(path);
  expect_location(error, path, 6, "sampler.guidance");
  EXPECT_THAT(error.what(), HasSubstr("remove the quotes"));
}

TEST_F(ConfigTest, MapWhereAListIsExpected) {
  const auto path = write("run.yaml", "dataset:\n  root: data\nsystems:\n  type: vanilla\n");
  const auto error = only_problem(path);
  expect_location(error, path, 4, "systems");
  EXPECT_THAT(error.what(), HasSubstr("expected a list, got a map"));
}

TEST_F(ConfigTest, OutOfRange) {
  const auto path = write("run.yaml", minimal() + "sampler:\n  steps: 0\n");
  const auto error = only_problem(path);
  expect_location(error, path, 6, "sampler.steps");
  EXPECT_THAT(error.what(), HasSubstr("expected an integer between 1 and 1000, got 0"));
}

TEST_F(ConfigTest, BadEnumValue) {
  const auto path = write("run.yaml", "dataset:\n  root: data\nsystems:\n  - type: vanilla\n  - type: dreamstroy\n");
  const auto error = only_problem(path);
  expect_location(error, path, 5, "systems[1].type");
  EXPECT_THAT(error.what(), HasSubstr("'dreamstroy' is not one of"));
  EXPECT_THAT(error.what(), HasSubstr("did you mean 'dreamstory'"));
}

TEST_F(ConfigTest, BadMetricName) {
  const auto path = write("run.yaml", minimal() + "metrics:\n  - dnc_ds\n  - detection_rat\n");
  const auto error = only_problem(path);
  expect_location(error, path, 7, "metrics[1]");
  EXPECT_THAT(error.what(), HasSubstr("did you mean 'detection_rate'"));
}

TEST_F(ConfigTest, MissingRequiredKey) {
  const auto path = write("run.yaml", "dataset:\n  root: data\nsystems:\n  - name: mine\n    params: {}\n");
  const auto error = only_problem(path);
  expect_location(error, path, 4, "systems[0].type");
  EXPECT_THAT(error.what(), HasSubstr("missing required key 'type'"));
}

TEST_F(ConfigTest, MissingSystems) {
  const auto path = write("run.yaml", "dataset:\n  root: data\n");
  const auto error = only_problem(path);
  expect_location(error, path, 1, "systems");
  EXPECT_THAT(error.what(), HasSubstr("missing required key 'systems'"));
}

TEST_F(ConfigTest, ExtendsCycle) {
  const auto a = write("a.yaml", "extends: b.yaml\n" + minimal());
  const auto b = write("b.yaml", "# b\nextends: a.yaml\n");
  const auto error = only_problem(a);
  expect_location(error, b, 2, "extends");
  EXPECT_THAT(error.what(), HasSubstr("extends cycle: "));
  EXPECT_THAT(error.what(), HasSubstr("a.yaml -> "));
  EXPECT_THAT(error.what(), HasSubstr("b.yaml -> "));
}

TEST_F(ConfigTest, ExtendsItself) {
  const auto a = write("a.yaml", minimal() + "extends: ./a.yaml\n");
  const auto error = only_problem(a);
  expect_location(error, a, 5, "extends");
  EXPECT_THAT(error.what(), HasSubstr("extends cycle"));
}

TEST_F(ConfigTest, MissingExtendsFile) {
  const auto path = write("run.yaml", "\nextends: nowhere/base.yaml\n" + minimal());
  const auto error = only_problem(path);
  expect_location(error, path, 2, "extends");
  EXPECT_THAT(error.what(), HasSubstr("file not found"));
  EXPECT_THAT(error.what(), HasSubstr("nowhere/base.yaml"));
}

TEST_F(ConfigTest, MissingConfigFile) {
  const auto problems = check_config(dir_ / "absent.yaml");
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].where().file, (dir_ / "absent.yaml").string());
  EXPECT_THAT(problems[0].what(), HasSubstr("config file not found"));
  EXPECT_THROW(load_config(dir_ / "absent.yaml"), core::InputError);
}

TEST_F(ConfigTest, YamlSyntaxErrorInABaseFile) {
  const auto base = write("base.yaml", "sampler:\n  seeds: [1, 2\n  steps: 3\n");
  const auto path = write("run.yaml", "extends: base.yaml\n" + minimal());
  const auto problems = check_config(path);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].where().file, base.lexically_normal().string());
  EXPECT_GE(problems[0].where().line, 2);
  EXPECT_THAT(problems[0].what(), HasSubstr("YAML syntax error"));
}

TEST_F(ConfigTest, DuplicateYamlKey) {
  const auto path = write("run.yaml", minimal() + "sampler:\n  steps: 4\n  steps: 5\n");
  const auto error = only_problem(path);
  expect_location(error, path, 7, "steps");
  EXPECT_THAT(error.what(), HasSubstr("duplicate key (first set on line 6)"));
}

TEST_F(ConfigTest, BadOverridePath) {
  const auto path = write("run.yaml", minimal());
  const std::string override_text = "sampler.stpes=4";
  const auto error = only_problem(path, {override_text});
  EXPECT_EQ(error.where().file, "--set " + override_text);
  EXPECT_EQ(error.where().field, "sampler.stpes");
  EXPECT_THAT(error.what(), HasSubstr("did you mean 'steps'"));

  EXPECT_THAT(only_problem(path, {"systems.type=vanilla"}).what(), HasSubstr("'systems' is a list"));
  EXPECT_THAT(only_problem(path, {"sampler.steps[0]=1"}).what(), HasSubstr("not a list"));
  EXPECT_THAT(only_problem(path, {"systems[5].type=vanilla"}).what(), HasSubstr("past the end"));
  EXPECT_THAT(only_problem(path, {"sampler.steps"}).what(), HasSubstr("expected key.path=value"));
  EXPECT_THAT(only_problem(path, {"sampler..steps=1"}).what(), HasSubstr("malformed key path"));
}

TEST_F(ConfigTest, BadOverrideValueType) {
  const auto path = write("run.yaml", minimal());
  const auto error = only_problem(path, {"sampler.seeds=[1, -2]"});
  EXPECT_EQ(error.where().file, "--set sampler.seeds=[1, -2]");
  EXPECT_EQ(error.where().field, "sampler.seeds[1]");
  EXPECT_EQ(error.where().line, 0);  // an override has no line
  EXPECT_THAT(error.what(), HasSubstr("--set sampler.seeds=[1, -2]: sampler.seeds[1]: expected a non-negative integer"));
  const auto syntax = only_problem(path, {"sampler.seeds=[1, 2"});
  EXPECT_EQ(syntax.where().file, "--set sampler.seeds=[1, 2");
  EXPECT_EQ(syntax.where().line, 0);
  EXPECT_THAT(syntax.what(), HasSubstr("YAML syntax error"));
  const auto relation = only_problem(path, {"model.weights=w.safetensors"});
  EXPECT_EQ(relation.where().file, "--set model.weights=w.safetensors");
  EXPECT_EQ(relation.where().line, 0);
  EXPECT_EQ(relation.where().field, "model.weights");
}

TEST_F(ConfigTest, UnsetEnvironmentVariable) {
  const ScopedEnv unset("DSBENCH_TEST_UNSET", nullptr);
  const auto path = write("run.yaml", "systems: [{type: vanilla}]\ndataset:\n  root: ${DSBENCH_TEST_UNSET}/x\n");
  const auto error = only_problem(path);
  expect_location(error, path, 3, "dataset.root");
  EXPECT_THAT(error.what(), HasSubstr("environment variable DSBENCH_TEST_UNSET is not set"));
}

TEST_F(ConfigTest, MalformedVariableReference) {
  const auto path = write("run.yaml", minimal() + "output_dir: ${not a name}\n");
  const auto error = only_problem(path);
  expect_location(error, path, 5, "output_dir");
  EXPECT_THAT(error.what(), HasSubstr("not a variable reference"));
}

TEST_F(ConfigTest, DuplicateSystemNames) {
  const auto path = write("run.yaml",
                          "dataset:\n  root: data\nsystems:\n  - type: dreamstory\n  - type: vanilla\n"
                          "  - type: dreamstory\n    params: {lambda: 0.5}\n");
  const auto error = only_problem(path);
  expect_location(error, path, 6, "systems[2].name");
  EXPECT_THAT(error.what(), HasSubstr("duplicate system name 'dreamstory'"));
  EXPECT_THAT(error.what(), HasSubstr("systems[0]"));
}

TEST_F(ConfigTest, EmptySeeds) {
  const auto path = write("run.yaml", minimal() + "sampler:\n  seeds: []\n");
  const auto error = only_problem(path);
  expect_location(error, path, 6, "sampler.seeds");
  EXPECT_THAT(error.what(), HasSubstr("at least 1 item"));
}

TEST_F(ConfigTest, DatasetRootNotFound) {
  const auto path = write("run.yaml", "dataset:\n  root: missing-folder\nsystems: [{type: vanilla}]\n");
  const auto error = only_problem(path);
  expect_location(error, path, 2, "dataset.root");
  EXPECT_THAT(error.what(), HasSubstr("not found: " + (dir_ / "missing-folder").string()));
}

TEST_F(ConfigTest, OpenaiBackendNeedsUrlAndModelAndAKeyName) {
  const auto path = write("run.yaml", minimal() +
                                          "director:\n  backends:\n    - kind: openai\n      model: m\n"
                                          "      api_key_env: sk-123secret\n");
  const auto problems = check_config(path);
  ASSERT_EQ(problems.size(), 2u);
  EXPECT_EQ(problems[0].where().field, "director.backends[0].base_url");
  EXPECT_EQ(problems[0].where().line, 7);
  EXPECT_EQ(problems[1].where().field, "director.backends[0].api_key_env");
  EXPECT_EQ(problems[1].where().line, 9);
  EXPECT_THAT(problems[1].what(), HasSubstr("NAME of an environment variable"));
}

TEST_F(ConfigTest, InvalidUtf8IsAProblemNotACrash) {
  const auto path = write("run.yaml", minimal() + "description: \"caf\xe9\"\n");
  const auto problems = check_config(path);
  ASSERT_FALSE(problems.empty());
  EXPECT_EQ(problems.back().where().file, path.string());
  EXPECT_THROW(load_config(path), core::InputError);
}

TEST_F(ConfigTest, AMapWhereANameIsExpectedIsAProblemNotACrash) {
  // Found by the mutation fuzzer: the invalid value became null and a later rule threw.
  const auto path = write("run.yaml", "name:\n  root: data\n" + minimal() +
                                          "director:\n  backends:\n    - {name: [x], kind: oracle, api_key_env: {a: 1}}\n");
  const auto problems = check_config(path);
  ASSERT_FALSE(problems.empty());
  EXPECT_EQ(problems.front().where().field, "name");
  EXPECT_THROW(load_config(path), core::InputError);
}

TEST_F(ConfigTest, SizeMustBeAMultipleOfEight) {
  const auto path = write("run.yaml", minimal() + "sampler: {width: 100}\n");
  const auto error = only_problem(path);
  expect_location(error, path, 5, "sampler.width");
  EXPECT_THAT(error.what(), HasSubstr("multiple of 8"));
}

TEST_F(ConfigTest, TinyProfileRejectsWeights) {
  const auto path = write("run.yaml", minimal() + "model:\n  weights: w.safetensors\n");
  const auto error = only_problem(path);
  expect_location(error, path, 6, "model.weights");
}

TEST_F(ConfigTest, SystemDirectorDefaultsToTheFirstBackendAndMustNameOne) {
  const auto path = write("run.yaml",
                          "dataset:\n  root: data\nsystems:\n  - type: vanilla\n  - type: dreamstory\n"
                          "    director: llm\ndirector:\n  backends:\n    - kind: oracle\n"
                          "    - {name: llm, kind: replay}\n");
  const RunConfig config = load_config(path);
  EXPECT_EQ(config.systems[0].director, "oracle");
  EXPECT_EQ(config.systems[1].director, "llm");

  const auto bad = write("bad.yaml", minimal() + "    director: gpt\n");
  const auto error = only_problem(bad);
  expect_location(error, bad, 5, "systems[0].director");
  EXPECT_THAT(error.what(), HasSubstr("no director backend named 'gpt'"));
}

TEST_F(ConfigTest, CompareEvaluationAndReportSections) {
  const auto path = write("run.yaml", minimal() +
                                          "compare:\n  thresholds:\n    - metric: dc_ds\n      abs_tol: 0.01\n"
                                          "    - {metric: clip_t, direction: higher_is_better, rel_tol: 0.05}\n"
                                          "evaluation: {model: ensemble, bootstrap_samples: 200}\n"
                                          "report: {stories: [a, b]}\n");
  const RunConfig config = load_config(path);
  ASSERT_EQ(config.compare.thresholds.size(), 2u);
  EXPECT_EQ(config.compare.thresholds[0].metric, "dc_ds");
  EXPECT_FALSE(config.compare.thresholds[0].higher_is_better);
  EXPECT_DOUBLE_EQ(config.compare.thresholds[0].abs_tol, 0.01);
  EXPECT_TRUE(config.compare.thresholds[1].higher_is_better);
  EXPECT_DOUBLE_EQ(config.compare.thresholds[1].rel_tol, 0.05);
  EXPECT_DOUBLE_EQ(config.compare.timing_rel_tol, 0.25);
  EXPECT_EQ(config.evaluation.model, "ensemble");
  EXPECT_EQ(config.evaluation.bootstrap_samples, 200);
  EXPECT_EQ(config.report.stories, (std::vector<std::string>{"a", "b"}));

  const auto bad = write("bad.yaml", minimal() + "compare:\n  thresholds:\n    - {metric: x, direction: up}\n");
  const auto error = only_problem(bad);
  EXPECT_EQ(error.where().field, "compare.thresholds[0].direction");
  EXPECT_THAT(error.what(), HasSubstr("higher_is_better"));
}

TEST_F(ConfigTest, ThresholdDirectionDefaultsToTheMetricsOwn) {
  const auto path = write("run.yaml", minimal() +
                                          "compare:\n  thresholds:\n    - {metric: dnc_ds}\n"
                                          "    - {metric: clip_t}\n    - {metric: scene_consistency}\n"
                                          "    - {metric: director.subject_recall}\n"
                                          "    - {metric: dnc_ds, direction: lower_is_better}\n");
  const RunConfig config = load_config(path);
  ASSERT_EQ(config.compare.thresholds.size(), 5u);
  EXPECT_TRUE(config.compare.thresholds[0].higher_is_better);   // a D&C score
  EXPECT_TRUE(config.compare.thresholds[1].higher_is_better);   // a CLIP score
  EXPECT_FALSE(config.compare.thresholds[2].higher_is_better);  // a distance
  EXPECT_FALSE(config.compare.thresholds[3].higher_is_better);  // unknown to the catalogue: lower
  EXPECT_FALSE(config.compare.thresholds[4].higher_is_better);  // said explicitly
}

TEST_F(ConfigTest, ClipAndDetectorSettings) {
  const RunConfig defaults = load_config(write("run.yaml", minimal()));
  EXPECT_EQ(defaults.evaluation.clip_model, "tiny-clip_vitb16");
  EXPECT_EQ(defaults.evaluation.clip_text, "scene");
  EXPECT_TRUE(defaults.evaluation.detector_command.empty());
  EXPECT_DOUBLE_EQ(defaults.evaluation.detector_threshold, 0.4);

  write("clip.safetensors", "x");
  const RunConfig config = load_config(write(
      "set.yaml", minimal() + "metrics: [clip_t, dnc_ds]\n"
                              "evaluation:\n  clip_model: clip_vitl14\n  clip_weights: clip.safetensors\n"
                              "  clip_text: generation\n  detector: {command: python3 owl.py, threshold: 0.3}\n"));
  EXPECT_EQ(config.evaluation.clip_weights, (dir_ / "clip.safetensors").string());
  EXPECT_EQ(config.evaluation.clip_text, "generation");
  EXPECT_EQ(config.evaluation.detector_command, "python3 owl.py");
  EXPECT_DOUBLE_EQ(config.evaluation.detector_threshold, 0.3);

  const auto missing = only_problem(write("missing.yaml", minimal() + "evaluation: {clip_weights: nowhere.safetensors}\n"));
  EXPECT_EQ(missing.where().field, "evaluation.clip_weights");
  EXPECT_THAT(missing.what(), HasSubstr("not found"));
  const auto text = only_problem(write("text.yaml", minimal() + "evaluation: {clip_text: caption}\n"));
  EXPECT_EQ(text.where().field, "evaluation.clip_text");
  const auto threshold = only_problem(write("th.yaml", minimal() + "evaluation: {detector: {threshold: 1.5}}\n"));
  EXPECT_EQ(threshold.where().field, "evaluation.detector.threshold");
  const auto metric = only_problem(write("m.yaml", minimal() + "metrics: [clip_score]\n"));
  EXPECT_EQ(metric.where().field, "metrics[0]");
  EXPECT_THAT(metric.what(), HasSubstr("clip_t"));
}

TEST_F(ConfigTest, CheckConfigCollectsEveryProblemAndLoadConfigThrowsTheFirst) {
  const auto path = write("run.yaml",
                          "dataset:\n  root: data\n  limt: 3\nsystems:\n  - type: vanila\n"
                          "sampler:\n  steps: -1\n  guidance: high\n");
  const auto problems = check_config(path, {"model.profil=sd15"});
  ASSERT_EQ(problems.size(), 5u);
  std::vector<std::string> keys;
  for (const auto& problem : problems) keys.push_back(problem.where().field);
  EXPECT_THAT(keys, ::testing::UnorderedElementsAre("model.profil", "dataset.limt", "systems[0].type",
                                                    "sampler.steps", "sampler.guidance"));
  try {
    load_config(path);
    FAIL() << "expected an InputError";
  } catch (const core::InputError& error) {
    EXPECT_EQ(error.code(), core::ExitCode::kInputError);
    EXPECT_EQ(error.where().field, "dataset.limt");
    EXPECT_THAT(error.what(), HasSubstr("3 more problem(s)"));
    EXPECT_THAT(error.what(), HasSubstr("dsbench validate --config"));
  }
}

TEST(ConfigKeys, DescribesEveryKeyFromTheSchema) {
  const std::string keys = describe_config_keys();
  EXPECT_THAT(keys, HasSubstr("sampler.steps  (an integer, default 50, min 1, max 1000)\n"));
  EXPECT_THAT(keys, HasSubstr("systems[].type  (a string, required, one of: vanilla | dreamstory"));
  EXPECT_THAT(keys, HasSubstr("sampler.seeds  (a list, default [0], at least 1 item(s))"));
  EXPECT_THAT(keys, HasSubstr("dataset.root  (a string, default \"\", path relative to its file)"));
}

}  // namespace
}  // namespace dsbench::harness
