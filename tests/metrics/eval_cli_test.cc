// `dsbench eval` end to end on an imported folder: the flags reach the evaluation
// (dataset facts, CLIP-T, aesthetic score, detector), and bad input exits 2 with a message
// that names it.
#include <gtest/gtest.h>

#include <filesystem>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "core/files.h"
#include "core/image.h"
#include "tests/metrics/one_subject_dataset.h"
#include "tests/support/run_command.h"

namespace dsbench::evaluation {
namespace {

namespace fs = std::filesystem;
using dsbench::testing::run_dsbench;

core::Image scene_image(int tone, bool with_object) {
  core::Image image(64, 48, 3);
  std::fill(image.pixels.begin(), image.pixels.end(), static_cast<std::uint8_t>(60 + tone));
  if (with_object) {
    for (int y = 10; y < 30; ++y)
      for (int x = 20; x < 40; ++x) image.at(y, x, 0) = static_cast<std::uint8_t>(200 + (x + y) % 40);
  }
  return image;
}

class EvalCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(dsbench::testing::dsbench_executable())) GTEST_SKIP() << "dsbench is not built";
    root_ = fs::temp_directory_path() / ("dsbench_eval_cli_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    const fs::path dir = root_ / "images/tale";
    fs::create_directories(dir);
    core::write_png_atomic(dir / "portrait_00.png", scene_image(0, true));
    for (int n = 0; n < 3; ++n) {
      core::write_png_atomic(dir / ("scene_0" + std::to_string(n) + ".png"), scene_image(10 * n, n != 2));
    }
    std::vector<std::string> prompts;
    for (int n = 0; n < 3; ++n) prompts.push_back("Red on a plain background, scene " + std::to_string(n));
    dsbench::testing::write_one_subject_dataset(root_ / "dataset", "tale", "fairy-tale",
                                                {"Red", "tile", "a red tile", "red tile"}, prompts);
    // A detector answering every request with the object's box.
    core::write_file_atomic(root_ / "detector.sh",
                            "sed -n 's/.*\"id\":\"\\([^\"]*\\)\".*/{\"id\":\"\\1\",\"detections\":[{\"query\":"
                            "\"tile\",\"box\":[20,10,40,30],\"score\":0.9}]}/p'\n");
  }
  void TearDown() override {
    if (!root_.empty()) fs::remove_all(root_);
  }

  std::string store() const { return " --store '" + (root_ / "store.sqlite").string() + "'"; }
  std::string images() const { return " --images '" + (root_ / "images").string() + "'"; }

  fs::path root_;
};

TEST_F(EvalCliTest, ImportedFolderWithDatasetClipAestheticAndDetector) {
  const auto result = run_dsbench("eval" + images() + store() + " --dataset '" + (root_ / "dataset").string() +
                                  "' --model tiny-ensemble --clip-model tiny-clip_vitb16 --aesthetic --detector 'sh " +
                                  (root_ / "detector.sh").string() + "' --threads 1 --json");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const auto report = nlohmann::json::parse(result.output.substr(result.output.rfind("\n{") + 1));
  EXPECT_EQ(report.at("clip_scored"), 3);
  EXPECT_EQ(report.at("aesthetic_scored"), 3);
  EXPECT_EQ(report.at("detected_images"), 4);  // the portrait and 3 scenes
  const int run = report.at("run");

  // The same run again: everything cached, the same number of values.
  const auto again = run_dsbench("eval " + std::to_string(run) + store() + " --model tiny-ensemble --clip-model "
                                 "tiny-clip_vitb16 --aesthetic --dataset '" + (root_ / "dataset").string() +
                                 "' --detector 'sh " + (root_ / "detector.sh").string() + "' --json");
  ASSERT_EQ(again.exit_code, 0) << again.output;
  const auto second = nlohmann::json::parse(again.output.substr(again.output.rfind("\n{") + 1));
  EXPECT_EQ(second.at("embedded"), 0);
  EXPECT_EQ(second.at("values"), report.at("values"));

  const auto shown = run_dsbench("show " + std::to_string(run) + store());
  EXPECT_EQ(shown.exit_code, 0) << shown.output;
  for (const char* metric : {"clip_t", "aesthetic", "dnc_ds", "scene_consistency"}) {
    EXPECT_NE(shown.output.find(metric), std::string::npos) << metric << "\n" << shown.output;
  }
}

TEST_F(EvalCliTest, BadInputExitsTwoNamingIt) {
  const auto missing = run_dsbench("eval" + images() + store() + " --model tiny-ensemble --detections '" +
                                   (root_ / "absent.jsonl").string() + "'");
  EXPECT_EQ(missing.exit_code, 2) << missing.output;
  EXPECT_NE(missing.output.find("absent.jsonl"), std::string::npos) << missing.output;

  const auto text = run_dsbench("eval" + images() + store() + " --model tiny-ensemble --clip-model tiny-clip_vitb16 "
                                "--clip-text caption");
  EXPECT_EQ(text.exit_code, 2) << text.output;
  EXPECT_NE(text.output.find("clip_text"), std::string::npos) << text.output;

  const auto model = run_dsbench("eval" + images() + store() + " --model tiny-ensemble --clip-model clip_rn50");
  EXPECT_EQ(model.exit_code, 2) << model.output;
  EXPECT_NE(model.output.find("clip_vitl14"), std::string::npos) << model.output;  // the list of known models

  const auto weights = run_dsbench("eval" + images() + store());  // full-size DreamSim, no weights
  EXPECT_EQ(weights.exit_code, 2) << weights.output;
  EXPECT_NE(weights.output.find("--weights"), std::string::npos) << weights.output;

  const auto failing = run_dsbench("eval" + images() + store() + " --model tiny-ensemble --dataset '" +
                                   (root_ / "dataset").string() + "' --detector 'echo model missing >&2; exit 4'");
  EXPECT_EQ(failing.exit_code, 1) << failing.output;
  EXPECT_NE(failing.output.find("model missing"), std::string::npos) << failing.output;
}

}  // namespace
}  // namespace dsbench::evaluation
