// Mutation fuzzing of the parsers that read outside input: safetensors headers, dataset
// JSON/JSONL (ours and the official release), YAML run configs. A parser may accept an
// input or reject it with a core::Error (which names file and field); anything else — a
// std::exception of another type escaping, a crash, a sanitizer report — fails. The
// failing input is written next to the test's temp dir so it can be replayed.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <string>

#include "core/errors.h"
#include "core/files.h"
#include "core/safetensors.h"
#include "datasets/dataset.h"
#include "harness/config/config.h"
#include "metrics/detections.h"
#include "pipeline/director/director.h"
#include "pipeline/director/plan_json.h"
#include "tests/fuzz/mutator.h"

namespace dsbench::fuzz {
namespace {

namespace fs = std::filesystem;

int iterations(int base) {
  const char* scale = std::getenv("DSBENCH_FUZZ_ITERATIONS");
  return scale == nullptr ? base : std::max(1, std::atoi(scale));
}

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

class FuzzTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("dsbench_fuzz_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);
  }

  // Runs `parse` on `trials` mutations of `seed_input` written to `target`. Counts how
  // many inputs were accepted so a test can check the fuzzer reaches past the first byte.
  struct Outcome {
    int accepted = 0;
    int rejected = 0;
  };
  Outcome fuzz(const std::string& seed_input, const fs::path& target, int trials, std::uint64_t seed,
               const std::function<void(const fs::path&)>& parse) {
    Mutator mutator(seed);
    Outcome outcome;
    for (int trial = 0; trial < trials; ++trial) {
      const std::string input = trial == 0 ? seed_input : mutator.mutate(seed_input);
      {
        std::ofstream out(target, std::ios::binary | std::ios::trunc);
        out.write(input.data(), static_cast<std::streamsize>(input.size()));
      }
      try {
        parse(target);
        ++outcome.accepted;
      } catch (const core::Error&) {
        ++outcome.rejected;
      } catch (const std::exception& error) {
        const fs::path keep = dir_ / ("failing_input_" + std::to_string(trial));
        fs::copy_file(target, keep, fs::copy_options::overwrite_existing);
        ADD_FAILURE() << "trial " << trial << " (seed " << seed << "): a " << typeid(error).name()
                      << " escaped instead of a core::Error: " << error.what() << "\n  input kept at " << keep;
        return outcome;
      }
    }
    return outcome;
  }

  fs::path dir_;
};

TEST_F(FuzzTest, SafetensorsHeaderAndOffsets) {
  std::map<std::string, core::safetensors::OwnedTensor> tensors;
  tensors["a.weight"] = {core::safetensors::DType::kF32, {2, 3}, std::vector<std::uint8_t>(24, 1)};
  tensors["b.bias"] = {core::safetensors::DType::kF16, {4}, std::vector<std::uint8_t>(8, 2)};
  tensors["c"] = {core::safetensors::DType::kBF16, {1, 1, 2}, std::vector<std::uint8_t>(4, 3)};
  const std::string seed_input = core::safetensors::serialize(tensors, {{"format", "pt"}});
  const auto outcome = fuzz(seed_input, dir_ / "model.safetensors", iterations(2000), 1, [](const fs::path& path) {
    const auto file = core::safetensors::File::open(path);
    for (const auto& name : file.names()) {
      const auto& view = file.tensor(name);
      // Touch the first and last byte: a header that passed validation must point inside the map.
      if (view.bytes > 0) {
        volatile std::uint8_t sink = view.data[0] ^ view.data[view.bytes - 1];
        (void)sink;
      }
    }
  });
  EXPECT_GE(outcome.accepted, 1);  // the unmutated seed
  EXPECT_GE(outcome.rejected, iterations(2000) / 4);
}

TEST_F(FuzzTest, JsonlDatasetAndItsValidator) {
  const fs::path sample = fs::path(DSBENCH_SOURCE_DIR) / "datasets/ds500-sample";
  std::string lines;
  {
    std::ifstream in(sample / "stories.jsonl");
    std::string line;
    for (int i = 0; i < 3 && std::getline(in, line); ++i) lines += line + "\n";
  }
  ASSERT_FALSE(lines.empty());
  const fs::path root = dir_ / "dataset";
  fs::create_directories(root);
  std::ofstream(root / "dataset.json") << slurp(sample / "dataset.json");
  const auto outcome = fuzz(lines, root / "stories.jsonl", iterations(400), 2, [&](const fs::path&) {
    (void)datasets::validate_dataset(root, datasets::Layout::kJsonl);
    (void)datasets::load_dataset(root, datasets::Layout::kJsonl);
  });
  EXPECT_GE(outcome.accepted, 1);
}

TEST_F(FuzzTest, OfficialReleaseMetaFile) {
  const fs::path release = fs::path(DSBENCH_SHARED_DIR) / "data/ds500/Synthetic-Cases-400/2-subject_meta.json";
  if (!fs::exists(release)) GTEST_SKIP() << "no DS-500 copy at " << release;
  const fs::path root = dir_ / "release";
  fs::create_directories(root / "Synthetic-Cases-400");
  const auto outcome = fuzz(slurp(release), root / "Synthetic-Cases-400" / "2-subject_meta.json", iterations(300), 3,
                            [&](const fs::path&) {
                              (void)datasets::validate_dataset(root, datasets::Layout::kOfficialRelease);
                              (void)datasets::load_dataset(root, datasets::Layout::kOfficialRelease);
                            });
  EXPECT_GE(outcome.accepted, 1);
}

TEST_F(FuzzTest, YamlRunConfig) {
  fs::create_directories(dir_ / "data");
  std::ofstream(dir_ / "base.yaml") << "sampler:\n  steps: 4\n  seeds: [0, 1]\n";
  const std::string seed_input =
      "extends: base.yaml\nname: fuzz\ndataset:\n  root: data\n  limit: 2\n  stories: [a, b]\n"
      "systems:\n  - type: vanilla\n  - name: ds\n    type: dreamstory\n    params: {lambda: 0.5, steps: [1, 2]}\n"
      "director:\n  backends:\n    - kind: oracle\n    - {name: llm, kind: openai, base_url: http://x, model: m,"
      " api_key_env: KEY}\nsampler: {width: 64, height: 64, guidance: 7.5}\nmetrics: [dnc_ds, detection_rate]\n"
      "compare:\n  thresholds:\n    - {metric: dc_ds, abs_tol: 0.01}\nstore: runs/x.sqlite\noutput_dir: runs\n";
  const auto outcome = fuzz(seed_input, dir_ / "run.yaml", iterations(600), 4, [](const fs::path& path) {
    (void)harness::check_config(path, {"sampler.steps=3", "systems[0].params.x=[1, 2]"});
    (void)harness::load_config(path);
  });
  EXPECT_GE(outcome.accepted, 1);
}

TEST_F(FuzzTest, ConfigOverrides) {
  fs::create_directories(dir_ / "data");
  std::ofstream(dir_ / "run.yaml") << "dataset: {root: data}\nsystems: [{type: vanilla}]\n";
  Mutator mutator(5);
  const std::string seeds[] = {"sampler.steps=3", "systems[0].params.lambda=0.5", "director.backends[0].kind=oracle",
                               "sampler.seeds=[1, 2]"};
  for (int trial = 0; trial < iterations(1500); ++trial) {
    const std::string override_text = mutator.mutate(seeds[trial % 4], 3);
    try {
      (void)harness::load_config(dir_ / "run.yaml", {override_text});
    } catch (const core::Error&) {
    } catch (const std::exception& error) {
      ADD_FAILURE() << "override '" << override_text << "': " << typeid(error).name() << ": " << error.what();
      return;
    }
  }
}

// A detector plug-in's answers and imported detection files come from code we do not
// control: every malformed file is an InputError naming file:line, and every accepted box
// has x0 <= x1 and y0 <= y1 (select_subject_boxes relies on it).
TEST_F(FuzzTest, DetectionsFile) {
  const std::string seed_input =
      "{\"image\": \"s/scene_00.png\", \"detections\": [{\"query\": \"cat\", \"box\": [1.5, 2, 30, 40.2], "
      "\"score\": 0.9}, {\"query\": \"dog\", \"box\": [0, 0, 64, 64], \"score\": 0.3}]}\n"
      "{\"image\": \"s/scene_01.png\", \"detections\": []}\n";
  const auto outcome = fuzz(seed_input, dir_ / "detections.jsonl", iterations(2000), 7, [](const fs::path& path) {
    for (const auto& [image, detections] : metrics::read_detections_file(path)) {
      for (const auto& detection : detections) {
        if (detection.box.x1 < detection.box.x0 || detection.box.y1 < detection.box.y0) {
          throw std::logic_error("an inverted box was accepted for " + image);
        }
      }
      (void)metrics::select_subject_boxes(detections, {"cat", "dog", "cat"}, 0.4, 64, 48);
    }
  });
  EXPECT_GE(outcome.accepted, 1);
  EXPECT_GE(outcome.rejected, 1);
}

// An LLM's answer is the least trusted input of all: parse_story_plan must report every
// problem as a result (for the repair prompt), never throw and never accept a plan that
// names unknown subjects.
TEST_F(FuzzTest, LlmAnswerParser) {
  const auto dataset = datasets::load_dataset(fs::path(DSBENCH_SOURCE_DIR) / "datasets/ds500-sample");
  const auto& story = dataset.stories.at(0);
  const auto expectations = director::expectations_for(story, 0);
  const std::string answer = director::story_plan_to_json(director::oracle_plan(story)).dump(2);
  ASSERT_TRUE(director::parse_story_plan(answer, story.id, expectations).ok);
  Mutator mutator(6);
  int accepted = 0;
  for (int trial = 0; trial < iterations(3000); ++trial) {
    const std::string input = mutator.mutate(answer, 8);
    try {
      const auto result = director::parse_story_plan(input, story.id, expectations);
      if (!result.ok) {
        EXPECT_FALSE(result.problems.empty()) << "trial " << trial;
        continue;
      }
      ++accepted;
      for (const auto& scene : result.plan.scenes) {
        for (const int subject : scene.subjects) {
          ASSERT_GE(subject, 0) << "trial " << trial;
          ASSERT_LT(static_cast<std::size_t>(subject), result.plan.subjects.size()) << "trial " << trial;
        }
      }
    } catch (const std::exception& error) {
      ADD_FAILURE() << "trial " << trial << ": parse_story_plan threw " << typeid(error).name() << ": "
                    << error.what() << "\n  input:\n" << input;
      return;
    }
  }
  RecordProperty("accepted", accepted);
}

}  // namespace
}  // namespace dsbench::fuzz
