// `dsbench tokenize` and `dsbench model info`, run as the built executable (skipped when
// it has not been built in this build directory).
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "pipeline/diffusion/clip_tokenizer.h"
#include "tests/support/run_command.h"

namespace dsbench::diffusion {
namespace {

const std::filesystem::path kExecutable = dsbench::testing::dsbench_executable();

using dsbench::testing::run_dsbench;

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(kExecutable)) GTEST_SKIP() << kExecutable << " not built";
  }
};

TEST_F(CliTest, TokenizePrintsIdsOnOneLine) {
  const auto result = run_dsbench("tokenize 'a photo of a cat'");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  std::string expected;
  for (const int id : ClipTokenizer::instance().encode("a photo of a cat")) {
    expected += (expected.empty() ? "" : " ") + std::to_string(id);
  }
  EXPECT_EQ(result.output, expected + "\n");
  EXPECT_EQ(result.output.substr(0, 6), "49406 ");
  // Several words are joined with single spaces, as the shell split them.
  EXPECT_EQ(run_dsbench("tokenize a photo of a cat").output, result.output);
}

TEST_F(CliTest, TokenizeJsonAndPad) {
  const auto json = run_dsbench("tokenize --json 'Hello, World!'");
  ASSERT_EQ(json.exit_code, 0) << json.output;
  const auto ids = nlohmann::json::parse(json.output).get<std::vector<int>>();
  EXPECT_EQ(ids, ClipTokenizer::instance().encode("Hello, World!"));
  const auto padded = run_dsbench("tokenize --pad --json 'Hello, World!'");
  const auto padded_ids = nlohmann::json::parse(padded.output).get<std::vector<int>>();
  ASSERT_EQ(padded_ids.size(), 77u);
  EXPECT_EQ(padded_ids.back(), ClipTokenizer::kEndToken);
  EXPECT_TRUE(std::equal(ids.begin(), ids.end(), padded_ids.begin()));
}

TEST_F(CliTest, TokenizeWithoutTextIsAnInputError) {
  const auto result = run_dsbench("tokenize");
  EXPECT_EQ(result.exit_code, 2) << result.output;
  EXPECT_NE(result.output.find("TEXT"), std::string::npos) << result.output;
}

TEST_F(CliTest, ModelInfoCountsTinyAndSd15Parameters) {
  const auto tiny = run_dsbench("model info --profile tiny --json");
  ASSERT_EQ(tiny.exit_code, 0) << tiny.output;
  const auto tiny_info = nlohmann::json::parse(tiny.output);
  EXPECT_EQ(tiny_info["profile"], "tiny");
  ASSERT_EQ(tiny_info["networks"].size(), 3u);
  for (const auto& network : tiny_info["networks"]) {
    EXPECT_GT(network["parameters"].get<std::int64_t>(), 0);
    EXPECT_EQ(network["source"], "seeded random (tiny)");
  }
  const auto sd15 = run_dsbench("model info --profile sd15");
  ASSERT_EQ(sd15.exit_code, 0) << sd15.output;
  for (const auto* expected : {"unet", "859520964", "text_encoder", "123060480", "vae", "83653863",
                               "none loaded"}) {
    EXPECT_NE(sd15.output.find(expected), std::string::npos) << expected << " in\n" << sd15.output;
  }
}

TEST_F(CliTest, ModelInfoDescribesSdxlWithoutBuildingIt) {
  const auto result = run_dsbench("model info --profile sdxl --json");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const auto info = nlohmann::json::parse(result.output);
  ASSERT_EQ(info["networks"].size(), 4u);
  EXPECT_EQ(info["networks"][1]["network"], "text_encoder_2");
  EXPECT_EQ(info["networks"][2]["parameters"].get<std::int64_t>(), 2'567'463'684);
  EXPECT_NE(info["networks"][2]["source"].get<std::string>().find("architecture only"), std::string::npos);
}

TEST_F(CliTest, ModelInfoUnknownProfileSuggestsOne) {
  const auto result = run_dsbench("model info --profile sd16");
  EXPECT_EQ(result.exit_code, 2) << result.output;
  EXPECT_NE(result.output.find("did you mean 'sd15'"), std::string::npos) << result.output;
}

}  // namespace
}  // namespace dsbench::diffusion
