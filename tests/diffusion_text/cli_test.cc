// `dsbench tokenize` and `dsbench model info`, run as the built executable (skipped when
// it has not been built in this build directory).
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <sys/wait.h>

#include "pipeline/diffusion/clip_tokenizer.h"

namespace dsbench::diffusion {
namespace {

const std::filesystem::path kExecutable = std::filesystem::path(DSBENCH_BINARY_DIR) / "dsbench";

struct Result {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

Result run(const std::string& arguments) {
  Result result;
  const std::string command = "'" + kExecutable.string() + "' " + arguments + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  std::array<char, 4096> buffer{};
  std::size_t read = 0;
  while ((read = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) result.output.append(buffer.data(), read);
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(kExecutable)) GTEST_SKIP() << kExecutable << " not built";
  }
};

TEST_F(CliTest, TokenizePrintsIdsOnOneLine) {
  const auto result = run("tokenize 'a photo of a cat'");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  std::string expected;
  for (const int id : ClipTokenizer::instance().encode("a photo of a cat")) {
    expected += (expected.empty() ? "" : " ") + std::to_string(id);
  }
  EXPECT_EQ(result.output, expected + "\n");
  EXPECT_EQ(result.output.substr(0, 6), "49406 ");
  // Several words are joined with single spaces, as the shell split them.
  EXPECT_EQ(run("tokenize a photo of a cat").output, result.output);
}

TEST_F(CliTest, TokenizeJsonAndPad) {
  const auto json = run("tokenize --json 'Hello, World!'");
  ASSERT_EQ(json.exit_code, 0) << json.output;
  const auto ids = nlohmann::json::parse(json.output).get<std::vector<int>>();
  EXPECT_EQ(ids, ClipTokenizer::instance().encode("Hello, World!"));
  const auto padded = run("tokenize --pad --json 'Hello, World!'");
  const auto padded_ids = nlohmann::json::parse(padded.output).get<std::vector<int>>();
  ASSERT_EQ(padded_ids.size(), 77u);
  EXPECT_EQ(padded_ids.back(), ClipTokenizer::kEndToken);
  EXPECT_TRUE(std::equal(ids.begin(), ids.end(), padded_ids.begin()));
}

TEST_F(CliTest, TokenizeWithoutTextIsAnInputError) {
  const auto result = run("tokenize");
  EXPECT_EQ(result.exit_code, 2) << result.output;
  EXPECT_NE(result.output.find("TEXT"), std::string::npos) << result.output;
}

TEST_F(CliTest, ModelInfoCountsTinyAndSd15Parameters) {
  const auto tiny = run("model info --profile tiny --json");
  ASSERT_EQ(tiny.exit_code, 0) << tiny.output;
  const auto tiny_info = nlohmann::json::parse(tiny.output);
  EXPECT_EQ(tiny_info["profile"], "tiny");
  ASSERT_EQ(tiny_info["networks"].size(), 3u);
  for (const auto& network : tiny_info["networks"]) {
    EXPECT_GT(network["parameters"].get<std::int64_t>(), 0);
    EXPECT_EQ(network["source"], "seeded random (tiny)");
  }
  const auto sd15 = run("model info --profile sd15");
  ASSERT_EQ(sd15.exit_code, 0) << sd15.output;
  for (const auto* expected : {"unet", "859520964", "text_encoder", "123060480", "vae", "83653863",
                               "none loaded"}) {
    EXPECT_NE(sd15.output.find(expected), std::string::npos) << expected << " in\n" << sd15.output;
  }
}

TEST_F(CliTest, ModelInfoDescribesSdxlWithoutBuildingIt) {
  const auto result = run("model info --profile sdxl --json");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const auto info = nlohmann::json::parse(result.output);
  ASSERT_EQ(info["networks"].size(), 4u);
  EXPECT_EQ(info["networks"][1]["network"], "text_encoder_2");
  EXPECT_EQ(info["networks"][2]["parameters"].get<std::int64_t>(), 2'567'463'684);
  EXPECT_NE(info["networks"][2]["source"].get<std::string>().find("architecture only"), std::string::npos);
}

TEST_F(CliTest, ModelInfoUnknownProfileSuggestsOne) {
  const auto result = run("model info --profile sd16");
  EXPECT_EQ(result.exit_code, 2) << result.output;
  EXPECT_NE(result.output.find("did you mean 'sd15'"), std::string::npos) << result.output;
}

}  // namespace
}  // namespace dsbench::diffusion
