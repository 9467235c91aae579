// `dsbench run` end to end through the built executable (skips when it is absent from
// this build tree), and the cluster examples under scripts/cluster/.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <map>
#include <string>

#include "harness/store/store.h"
#include "tests/support/run_command.h"

namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

using Result = dsbench::testing::CommandResult;
using dsbench::testing::run_command;

const fs::path kBinary = dsbench::testing::dsbench_executable();
const fs::path kSource = DSBENCH_SOURCE_DIR;

std::string quoted(const fs::path& path) { return "'" + path.string() + "'"; }

Result dsbench(const std::string& arguments, const std::string& environment = "") {
  return run_command("cd " + quoted(kSource) + " && env -u SLURM_ARRAY_TASK_ID -u SLURM_ARRAY_TASK_COUNT "
                     "-u SLURM_ARRAY_TASK_MIN -u JOB_COMPLETION_INDEX " + environment + " " + quoted(kBinary) + " " +
                     arguments);
}

std::size_t items_of(const std::string& output) {
  std::smatch match;
  if (!std::regex_search(output, match, std::regex("\\n  (\\d+) items? in \\d+ groups?"))) return 0;
  return std::stoul(match[1]);
}

class RunCli : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kBinary)) GTEST_SKIP() << "dsbench is not built";
    scratch_ = fs::path(DSBENCH_BINARY_DIR) / "test-scratch" / ("run-cli-" + std::to_string(::getpid()));
    fs::create_directories(scratch_);
    // The smoke config with only its vanilla system: these tests count items and time
    // real runs, which must not grow when systems are added to smoke.yaml.
    const fs::path config = scratch_ / "smoke-vanilla.yaml";
    std::ofstream(config) << "extends: " << (kSource / "configs/smoke.yaml").string() << "\nsystems:\n  - type: vanilla\n";
    smoke_vanilla_ = quoted(config);
  }
  void TearDown() override { fs::remove_all(scratch_); }
  fs::path scratch_;
  std::string smoke_vanilla_;
};

TEST_F(RunCli, DryRunPrintsThePlanOfTheSmokeConfigWithoutTouchingTheStore) {
  const fs::path store = scratch_ / "never.sqlite";
  const Result result = dsbench("run --config " + smoke_vanilla_ + " --dry-run --set store.url=" + store.string());
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("1 system x 3 stories (6 scenes, 9 subjects) x 1 seed [0]"));
  EXPECT_THAT(result.output, ::testing::ContainsRegex("vanilla +9 +6 +15"));
  EXPECT_THAT(result.output, HasSubstr("hansel-and-gretel: 4, 2"));
  EXPECT_EQ(items_of(result.output), 15u);
  EXPECT_THAT(result.output, HasSubstr("dry run: nothing was run"));
  EXPECT_FALSE(fs::exists(store));
}

TEST_F(RunCli, DryRunShardsCoverThePlan) {
  std::size_t items = 0;
  for (int k = 0; k < 3; ++k) {
    const Result result = dsbench("run --config " + smoke_vanilla_ + " --dry-run --shard " + std::to_string(k) + "/3");
    EXPECT_EQ(result.exit_code, 0) << result.output;
    EXPECT_THAT(result.output, HasSubstr("shard " + std::to_string(k) + "/3: 1 group of the run"));
    items += items_of(result.output);
  }
  EXPECT_EQ(items, 15u);
}

TEST_F(RunCli, ShardComesFromSlurmOrKubernetesVariables) {
  Result result = dsbench("run --config " + smoke_vanilla_ + " --dry-run --shard auto",
                          "SLURM_ARRAY_TASK_ID=2 SLURM_ARRAY_TASK_MIN=1 SLURM_ARRAY_TASK_COUNT=3");
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("shard 1/3:"));
  result = dsbench("run --config " + smoke_vanilla_ + " --dry-run --shard auto/3", "JOB_COMPLETION_INDEX=2");
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("shard 2/3:"));
}

TEST_F(RunCli, UsageProblemsExitTwoNamingTheOption) {
  Result result = dsbench("run --config " + smoke_vanilla_ + " --dry-run --shard 3/3");
  EXPECT_EQ(result.exit_code, 2) << result.output;
  EXPECT_THAT(result.output, HasSubstr("--shard"));
  result = dsbench("run --config " + smoke_vanilla_ + " --dry-run --shard auto");
  EXPECT_EQ(result.exit_code, 2) << result.output;
  EXPECT_THAT(result.output, HasSubstr("SLURM_ARRAY_TASK_ID"));
  result = dsbench("run --dry-run");
  EXPECT_EQ(result.exit_code, 2) << result.output;
  EXPECT_THAT(result.output, HasSubstr("--config"));
  result = dsbench("run --config " + smoke_vanilla_ + " --dry-run --set sampler.stepz=3");
  EXPECT_EQ(result.exit_code, 2) << result.output;
  EXPECT_THAT(result.output, HasSubstr("did you mean 'steps'"));
  result = dsbench("run --resume 1 --store " + quoted(scratch_ / "absent.sqlite"));
  EXPECT_EQ(result.exit_code, 2) << result.output;
  result = dsbench("run --help");
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("--workers-id"));
}

TEST_F(RunCli, SlurmArrayScriptRunsItsShard) {
  const Result result = run_command("cd " + quoted(kSource) + " && SLURM_ARRAY_TASK_ID=1 SLURM_ARRAY_TASK_COUNT=2 DSBENCH=" +
                                    quoted(kBinary) + " CONFIG=configs/smoke.yaml bash scripts/cluster/slurm-array.sbatch --dry-run");
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("shard 1/2:"));
}

// The real product path (registry systems on the tiny model): a run, a rerun that has
// nothing to do, and two CLI shards merged with `dsbench merge` that equal the unsharded
// run item for item (same keys, same image hashes: sampling is seeded).
TEST_F(RunCli, SmokeRunsResumesAndShardsMergeToTheUnshardedRun) {
  // Two stories (4 + 2 subjects), one scene each, one step: 8 items per run. One thread:
  // with two, OpenMP's spin-waiting makes a run ~20x slower on a loaded machine.
  const std::string fast = " --no-progress --set sampler.steps=1 --set dataset.limit=2 --set dataset.max_scenes=1"
                           " --set model.threads=1 --set output_dir=" + (scratch_ / "images").string();
  const fs::path single = scratch_ / "single.sqlite";
  Result result = dsbench("run --config " + smoke_vanilla_ + " --store " + quoted(single) + fast);
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("finished (8 item(s) done now, 0 before, 0 failed, 0 remaining of 8)"));
  // A clean finish is evaluated with the config's metrics (tiny-ensemble for smoke).
  EXPECT_THAT(result.output, ::testing::ContainsRegex("evaluated run 1 with tiny-ensemble: [1-9][0-9]* metric value"));
  {
    const dsbench::store::Store store = dsbench::store::Store::open(single);
    EXPECT_FALSE(store.metric_values(1, "dreamsim_scene_portrait").empty());
    EXPECT_FALSE(store.metric_summaries(1).empty());
  }
  result = run_command(quoted(kBinary) + " show 1 --store " + quoted(single));
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, ::testing::ContainsRegex("vanilla +dreamsim_scene_portrait +2 "));
  result = dsbench("run --config " + smoke_vanilla_ + " --no-eval --store " + quoted(single) + fast);
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("resuming run 1"));
  EXPECT_THAT(result.output, HasSubstr("finished (0 item(s) done now, 8 before"));
  EXPECT_THAT(result.output, ::testing::Not(HasSubstr("evaluated run")));

  const fs::path sharded = scratch_ / "sharded.sqlite";
  for (int k = 0; k < 2; ++k) {
    result = dsbench("run --config " + smoke_vanilla_ + " --no-eval --store " + quoted(sharded) + " --shard " +
                     std::to_string(k) + "/2" + fast);
    EXPECT_EQ(result.exit_code, 0) << result.output;
  }
  const fs::path merged = scratch_ / "merged.sqlite";
  result = run_command(quoted(kBinary) + " merge " + quoted(scratch_ / "sharded.shard-0-of-2.sqlite") + " " +
                       quoted(scratch_ / "sharded.shard-1-of-2.sqlite") + " --into " + quoted(merged));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  result = run_command(quoted(kBinary) + " show 1 --verify --store " + quoted(merged));
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("finished"));

  const auto digest = [](const fs::path& path) {
    const dsbench::store::Store store = dsbench::store::Store::open(path);
    const auto run = store.list_runs().front();
    std::map<dsbench::store::ItemId, std::string> key_of;
    for (const auto& item : store.list_items(run.id)) {
      key_of[item.id] = item.key.system + "/" + item.key.story + "/" + item.key.kind + "/" +
                        std::to_string(item.key.index) + "/" + std::to_string(item.key.seed) + "/" + item.status;
    }
    std::map<std::string, std::string> hashes;
    for (const auto& artifact : store.artifacts_of_run(run.id)) hashes[key_of.at(artifact.item) + "/" + artifact.name] = artifact.sha256;
    return hashes;
  };
  const auto expected = digest(single);
  EXPECT_EQ(expected.size(), 8u);
  EXPECT_EQ(digest(merged), expected);
}

TEST(ClusterExamples, IndexedJobShardsMatchItsCompletions) {
  const YAML::Node job = YAML::LoadFile((kSource / "scripts/cluster/k8s-indexed-job.yaml").string());
  EXPECT_EQ(job["kind"].as<std::string>(), "Job");
  EXPECT_EQ(job["spec"]["completionMode"].as<std::string>(), "Indexed");
  const int completions = job["spec"]["completions"].as<int>();
  const YAML::Node command = job["spec"]["template"]["spec"]["containers"][0]["command"];
  std::vector<std::string> words;
  for (const auto& word : command) words.push_back(word.as<std::string>());
  const auto shard = std::find(words.begin(), words.end(), "--shard");
  ASSERT_NE(shard, words.end());
  ASSERT_NE(shard + 1, words.end());
  EXPECT_EQ(*(shard + 1), "auto/" + std::to_string(completions));
  EXPECT_EQ(words[1], "run");

  const YAML::Node merge = YAML::LoadFile((kSource / "scripts/cluster/k8s-merge-job.yaml").string());
  const std::string merge_command = merge["spec"]["template"]["spec"]["containers"][0]["args"][0].as<std::string>();
  EXPECT_THAT(merge_command, HasSubstr("{0.." + std::to_string(completions - 1) + "}-of-" + std::to_string(completions)));
}

}  // namespace
