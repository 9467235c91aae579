// `dsbench validate` end to end: the executable's output and exit codes. Skips when the
// dsbench executable has not been built in this build tree.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "tests/support/run_command.h"

namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

using Result = dsbench::testing::CommandResult;
using dsbench::testing::run_dsbench;

class ValidateCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(dsbench::testing::dsbench_executable())) GTEST_SKIP() << "dsbench is not built";
    dir_ = fs::temp_directory_path() / ("dsbench_validate_cli_" + std::to_string(::getpid()));
    fs::create_directories(dir_ / "data");
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
    return dir_ / name;
  }

  fs::path dir_;
};

TEST_F(ValidateCliTest, CleanConfigPrintsOkAndTheHash) {
  const auto path = write("good.yaml", "dataset: {root: data}\nsystems: [{type: vanilla}]\n");
  const Result result = run_dsbench("validate --no-dataset --config '" + path.string() + "'");
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("ok: " + path.string() + " (config hash "));
  EXPECT_THAT(result.output, ::testing::ContainsRegex("config hash [0-9a-f]{64}\\)"));
}

TEST_F(ValidateCliTest, OverridesReachTheConfigAndChangeTheHash) {
  const auto path = write("good.yaml", "dataset: {root: data}\nsystems: [{type: vanilla}]\n");
  const Result plain = run_dsbench("validate --no-dataset --config '" + path.string() + "'");
  const Result changed =
      run_dsbench("validate --no-dataset --config '" + path.string() + "' --set sampler.steps=4 --print");
  EXPECT_EQ(changed.exit_code, 0) << changed.output;
  EXPECT_THAT(changed.output, HasSubstr("\"steps\": 4"));
  EXPECT_NE(plain.output.substr(plain.output.find("hash")), changed.output.substr(changed.output.find("hash")));
}

TEST_F(ValidateCliTest, AConfigsDatasetIsCheckedToo) {
  const auto path = write("good.yaml", "dataset: {root: data}\nsystems: [{type: vanilla}]\n");
  const Result result = run_dsbench("validate --config '" + path.string() + "'");
  EXPECT_EQ(result.exit_code, 2) << result.output;  // data/ is an empty folder, not a dataset
  EXPECT_THAT(result.output, HasSubstr("ok: " + path.string()));
  EXPECT_THAT(result.output, HasSubstr((dir_ / "data").string()));
}

TEST_F(ValidateCliTest, EveryProblemIsListedWithFileLineAndKey) {
  const auto path = write("bad.yaml",
                          "dataset: {root: data}\n"
                          "systems:\n"
                          "  - type: vanila\n"
                          "sampler:\n"
                          "  stepz: 4\n");
  const Result result = run_dsbench("validate --config '" + path.string() + "' --set model.profil=sd15");
  EXPECT_EQ(result.exit_code, 2) << result.output;
  EXPECT_THAT(result.output, HasSubstr(path.string() + ":3: systems[0].type: 'vanila' is not one of"));
  EXPECT_THAT(result.output, HasSubstr("did you mean 'vanilla'"));
  EXPECT_THAT(result.output, HasSubstr(path.string() + ":5: sampler.stepz: unknown key 'stepz'"));
  EXPECT_THAT(result.output, HasSubstr("--set model.profil=sd15: model.profil: unknown key 'profil'"));
  EXPECT_THAT(result.output, HasSubstr("3 problem(s) found"));
}

TEST_F(ValidateCliTest, UsageErrorsExitTwoAndHelpExitsZero) {
  EXPECT_EQ(run_dsbench("validate").exit_code, 2);
  EXPECT_EQ(run_dsbench("validate --bogus").exit_code, 2);
  const Result help = run_dsbench("validate --help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.output, HasSubstr("--config"));
  EXPECT_THAT(help.output, HasSubstr("--dataset"));
}

TEST_F(ValidateCliTest, ShippedSmokeConfigIsValidWhenItsSampleExists) {
  if (!fs::exists(fs::path(DSBENCH_SOURCE_DIR) / "datasets/ds500-sample")) GTEST_SKIP() << "no sample dataset";
  const Result result = run_dsbench("validate --config '" + std::string(DSBENCH_SOURCE_DIR) + "/configs/smoke.yaml'");
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("ok: the config selects 3 stories"));
}

TEST_F(ValidateCliTest, ShippedSampleDatasetIsValid) {
  const fs::path sample = fs::path(DSBENCH_SOURCE_DIR) / "datasets/ds500-sample";
  if (!fs::exists(sample)) GTEST_SKIP() << "no sample dataset";
  const Result result = run_dsbench("validate --dataset '" + sample.string() + "'");
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("ok: "));
}

TEST_F(ValidateCliTest, BrokenDatasetExitsTwo) {
  fs::create_directories(dir_ / "empty-dataset");
  const Result result = run_dsbench("validate --dataset '" + (dir_ / "empty-dataset").string() + "'");
  EXPECT_EQ(result.exit_code, 2) << result.output;
  EXPECT_THAT(result.output, HasSubstr("empty-dataset"));
}

}  // namespace
