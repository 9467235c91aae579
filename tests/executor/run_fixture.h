// Shared pieces of the executor tests: a scratch folder with a run config over the
// authored sample, the test-system factory, forked workers and the check that a store
// holds exactly the planned items with intact, correct images.
#pragma once

#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

#include "core/hashing.h"
#include "core/files.h"
#include "core/image.h"
#include "harness/config/config.h"
#include "harness/executor/executor.h"
#include "harness/planning/plan.h"
#include "harness/store/store.h"
#include "pipeline/director/director.h"
#include "tests/executor/test_system.h"

namespace dsbench::executor::testing {

constexpr int kImageSize = 16;

class Scratch {
 public:
  Scratch() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = std::filesystem::path(DSBENCH_BINARY_DIR) / "test-scratch" /
            ("executor-" + std::to_string(::getpid()) + "-" + info->test_suite_name() + "-" + info->name());
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~Scratch() {
    if (!::testing::Test::HasFailure()) std::filesystem::remove_all(path_);
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

struct RunSetup {
  std::string systems = "[{name: ours, type: dreamstory}]";
  std::string seeds = "[0, 1]";
  int limit = 3;
  int max_scenes = 2;
  std::string dataset_root = std::string(DSBENCH_SOURCE_DIR) + "/datasets/ds500-sample";
};

// Writes run.yaml into `folder` (store and images inside it) and loads it.
inline harness::RunConfig write_config(const std::filesystem::path& folder, const RunSetup& setup = {}) {
  const auto file = folder / "run.yaml";
  std::ofstream(file) << "name: executor-test\n"
                      << "dataset:\n  root: " << setup.dataset_root << "\n"
                      << "  limit: " << setup.limit << "\n  max_scenes: " << setup.max_scenes << "\n"
                      << "systems: " << setup.systems << "\n"
                      << "sampler:\n  steps: 1\n  width: " << kImageSize << "\n  height: " << kImageSize
                      << "\n  seeds: " << setup.seeds << "\n"
                      << "store:\n  url: store.sqlite\n"
                      << "output_dir: images\n";
  return harness::load_config(file);
}

// Systems named "plain*" ignore portraits; the others use them.
inline SystemFactory test_factory(TestSystemOptions base = {}) {
  return [base](const harness::SystemConfig& system, const systems::ModelSettings&) {
    TestSystemOptions options = base;
    options.name = system.name;
    options.size = kImageSize;
    options.uses_portraits = !system.name.starts_with("plain");
    return std::make_unique<TestSystem>(options);
  };
}

inline Options quiet_options() {
  Options options;
  options.lease_seconds = 2.0;
  return options;
}

// Runs the executor in a child process; returns its pid. The child exits with the run's
// exit code (or 3 on an exception).
inline pid_t fork_worker(const harness::RunConfig& config, const Options& options, const SystemFactory& factory) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    int code = 3;
    try {
      code = static_cast<int>(execute(config, options, factory).exit_code());
    } catch (...) {
    }
    ::_exit(code);
  }
  return pid;
}

struct ChildEnd {
  bool killed = false;
  int exit_code = -1;
};

inline ChildEnd wait_child(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  ChildEnd end;
  end.killed = WIFSIGNALED(status);
  if (WIFEXITED(status)) end.exit_code = WEXITSTATUS(status);
  return end;
}

// The expected image of every planned item, computed independently of the executor.
struct Expected {
  std::map<std::string, core::Image> images;  // item key string -> main image
  std::size_t items = 0;
};

inline Expected expected_images(const harness::RunConfig& config, const TestSystemOptions& failing = {}) {
  Expected expected;
  const auto dataset = planning::load_selected_dataset(config);
  for (const auto& system : config.systems) {
    const bool uses_portraits = !system.name.starts_with("plain");
    for (const auto& story : dataset.stories) {
      const auto plan = director::oracle_plan(story);
      for (const auto seed : config.sampler.seeds) {
        std::vector<core::Image> portraits;
        for (std::size_t s = 0; s < plan.subjects.size(); ++s) {
          portraits.push_back(expected_portrait(system.name, story.id, static_cast<int>(s), seed, kImageSize));
          const planning::ItemKey key{system.name, story.id, planning::ItemKind::kPortrait, static_cast<int>(s), seed};
          expected.images[key.to_string()] = portraits.back();
        }
        const std::size_t scenes = std::min<std::size_t>(plan.scenes.size(), config.dataset.max_scenes);
        for (std::size_t c = 0; c < scenes; ++c) {
          std::vector<core::Image> inputs;
          if (uses_portraits) {
            for (const int subject : plan.scenes[c].subjects) inputs.push_back(portraits[static_cast<std::size_t>(subject)]);
          }
          const planning::ItemKey key{system.name, story.id, planning::ItemKind::kScene, static_cast<int>(c), seed};
          expected.images[key.to_string()] =
              scene_from(scene_seed(system.name, story.id, static_cast<int>(c), seed), inputs, kImageSize);
        }
      }
    }
  }
  (void)failing;
  expected.items = expected.images.size();
  return expected;
}

inline std::vector<std::filesystem::path> temporary_files(const std::filesystem::path& root) {
  std::vector<std::filesystem::path> found;
  if (!std::filesystem::exists(root)) return found;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
    if (entry.path().filename().string().find(".tmp-") != std::string::npos) found.push_back(entry.path());
  }
  return found;
}

// Every planned item exactly once and done, every artifact file present with its
// recorded sha256 and the expected pixels, no stray temporaries. Returns the run.
inline store::RunInfo expect_complete_run(const harness::RunConfig& config, const std::filesystem::path& store_path,
                                          const std::string& label) {
  const Expected expected = expected_images(config);
  const store::Store store = store::Store::open(store_path);
  const auto runs = store.runs_with_config_hash(config.hash);
  EXPECT_EQ(runs.size(), 1u) << label;
  if (runs.empty()) return {};
  const store::RunInfo run = runs.front();
  EXPECT_EQ(run.status, "finished") << label << ": " << run.message;

  std::multiset<std::string> keys;
  std::map<store::ItemId, std::string> key_of;
  for (const auto& item : store.list_items(run.id)) {
    const planning::ItemKey key{item.key.system, item.key.story, planning::parse_kind(item.key.kind), item.key.index,
                                item.key.seed};
    keys.insert(key.to_string());
    key_of[item.id] = key.to_string();
    EXPECT_EQ(item.status, "done") << label << ": " << key.to_string() << " " << item.error;
  }
  EXPECT_EQ(keys.size(), expected.items) << label;
  for (const auto& [key, image] : expected.images) EXPECT_EQ(keys.count(key), 1u) << label << ": " << key;

  std::map<std::string, int> main_images;
  for (const auto& artifact : store.artifacts_of_run(run.id)) {
    const auto path = std::filesystem::path(run.output_dir) / artifact.path;
    if (!std::filesystem::exists(path)) {
      ADD_FAILURE() << label << ": missing " << path;
      continue;
    }
    const std::string bytes = core::read_file(path);
    EXPECT_EQ(core::sha256_hex(bytes), artifact.sha256) << label << ": " << path;
    EXPECT_EQ(static_cast<std::int64_t>(bytes.size()), artifact.bytes) << label << ": " << path;
    if (artifact.name == "image") {
      const std::string key = key_of.at(artifact.item);
      ++main_images[key];
      EXPECT_TRUE(core::decode_image(bytes, path.string()) == expected.images.at(key)) << label << ": pixels of " << key;
    }
  }
  EXPECT_EQ(main_images.size(), expected.items) << label;
  for (const auto& [key, count] : main_images) EXPECT_EQ(count, 1) << label << ": " << key;
  const auto stray = temporary_files(std::filesystem::path(run.output_dir));
  EXPECT_TRUE(stray.empty()) << label << ": stray temporary " << (stray.empty() ? "" : stray.front().string());
  return run;
}

}  // namespace dsbench::executor::testing
