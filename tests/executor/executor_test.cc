// The executor in one process: a whole run, resume, failures, interruption, sharding.
#include <algorithm>
#include <csignal>
#include <fstream>
#include <sstream>

#include "datasets/dataset.h"
#include "harness/executor/stop.h"
#include "tests/executor/run_fixture.h"

namespace dsbench::executor::testing {
namespace {

std::filesystem::path store_of(const harness::RunConfig& config) { return config.store.url; }

TEST(Executor, RunsEveryItemOnceWithCorrectImages) {
  const Scratch scratch;
  RunSetup setup;
  setup.systems = "[{name: ours, type: dreamstory}, {name: plain, type: vanilla}]";
  const auto config = write_config(scratch.path(), setup);
  std::ostringstream progress;
  Options options = quiet_options();
  options.progress = &progress;
  options.progress_interval_seconds = 0.0;
  const Outcome outcome = execute(config, options, test_factory());
  EXPECT_EQ(outcome.status, "finished");
  EXPECT_EQ(outcome.exit_code(), core::ExitCode::kOk);
  EXPECT_FALSE(outcome.resumed);
  // 3 sample stories with 4 + 2 + 3 subjects and 2 scenes each, 2 seeds, 2 systems.
  EXPECT_EQ(outcome.planned, 2u * 2u * (9u + 6u));
  EXPECT_EQ(outcome.completed, outcome.planned);
  EXPECT_EQ(outcome.failed_total, 0u);
  EXPECT_EQ(outcome.run_dir, std::filesystem::path(config.output_dir) / ("run-" + outcome.run_id));
  EXPECT_TRUE(std::filesystem::exists(outcome.run_dir / "ours/hansel-and-gretel/seed-1/portrait_Hansel.png"));
  EXPECT_TRUE(std::filesystem::exists(outcome.run_dir / "ours/hansel-and-gretel/seed-1/portrait_Hansel.mask.png"));
  EXPECT_TRUE(std::filesystem::exists(outcome.run_dir / "plain/fox-and-crow/seed-0/scene_01.png"));
  EXPECT_NE(progress.str().find("progress: 60/60 items (100.0%), 0 failed"), std::string::npos) << progress.str();
  for (const char* stage : {"direct", "portrait", "scene", "write", "store", "load_portraits"}) {
    EXPECT_TRUE(outcome.stage_seconds.count(stage)) << stage;
  }
  const auto run = expect_complete_run(config, store_of(config), "single run");

  // The store records the stage timings and the resolved config with its hash.
  const store::Store store = store::Store::open(store_of(config));
  EXPECT_EQ(run.config_json, config.resolved.dump());
  std::set<std::string> stages;
  for (const auto& timing : store.stage_timings(run.id)) stages.insert(timing.stage);
  EXPECT_TRUE(stages.count("scene"));
  EXPECT_TRUE(stages.count("direct"));

  // Every item carries what the director asked of it (evaluation's CLIP-T text and
  // detector queries come from here): the oracle's plan is the dataset's annotation.
  const auto dataset = datasets::load_dataset(config.dataset.root);
  const auto& fox = *std::find_if(dataset.stories.begin(), dataset.stories.end(),
                                  [](const datasets::Story& story) { return story.id == "fox-and-crow"; });
  std::size_t checked = 0;
  for (const auto& item : store.list_items(run.id, "done")) {
    if (item.key.story != "fox-and-crow") continue;
    const auto& plan = item.info.at("plan");
    if (item.key.kind == "portrait") {
      EXPECT_EQ(plan.at("keyword"), fox.subjects.at(static_cast<std::size_t>(item.key.index)).kind);
      continue;
    }
    const auto& scene = fox.scenes.at(static_cast<std::size_t>(item.key.index));
    EXPECT_EQ(plan.at("prompt"), scene.prompt);
    ASSERT_EQ(plan.at("subjects").size(), scene.subjects.size());
    for (std::size_t k = 0; k < scene.subjects.size(); ++k) {
      EXPECT_EQ(plan["subjects"][k].at("index"), scene.subjects[k]);
      EXPECT_EQ(plan["subjects"][k].at("keyword"), fox.subjects.at(static_cast<std::size_t>(scene.subjects[k])).kind);
    }
    ++checked;
  }
  EXPECT_EQ(checked, 2u * 2u * 2u);  // 2 systems x 2 seeds x 2 scenes
}

TEST(Executor, ResumeSkipsFinishedItems) {
  const Scratch scratch;
  const auto config = write_config(scratch.path());
  Options options = quiet_options();
  options.max_items = 7;
  const Outcome first = execute(config, options, test_factory());
  EXPECT_EQ(first.status, "interrupted");
  EXPECT_EQ(first.completed, 7u);
  EXPECT_EQ(first.exit_code(), core::ExitCode::kRunFailure);

  const Outcome second = execute(config, quiet_options(), test_factory());
  EXPECT_TRUE(second.resumed);
  EXPECT_EQ(second.run_id, first.run_id);
  EXPECT_EQ(second.done_before, 7u);
  EXPECT_EQ(second.completed, second.planned - 7u);
  EXPECT_EQ(second.status, "finished");

  // Nothing left: a third run of the same config does no work and succeeds.
  const Outcome third = execute(config, quiet_options(), test_factory());
  EXPECT_EQ(third.run_id, first.run_id);
  EXPECT_EQ(third.completed, 0u);
  EXPECT_EQ(third.exit_code(), core::ExitCode::kOk);
  expect_complete_run(config, store_of(config), "resumed");
}

TEST(Executor, ResumeByRunIdChecksTheConfig) {
  const Scratch scratch;
  const auto config = write_config(scratch.path());
  Options options = quiet_options();
  options.max_items = 3;
  const Outcome first = execute(config, options, test_factory());
  Options resume = quiet_options();
  resume.resume_run = first.run_id;
  EXPECT_EQ(execute(config, resume, test_factory()).status, "finished");

  RunSetup other;
  other.seeds = "[5]";
  const auto changed = write_config(scratch.path(), other);
  try {
    execute(changed, resume, test_factory());
    FAIL() << "expected an InputError";
  } catch (const core::InputError& error) {
    EXPECT_NE(std::string(error.what()).find("config hash"), std::string::npos) << error.what();
  }
  resume.resume_run = "99";
  EXPECT_THROW(execute(config, resume, test_factory()), core::InputError);
  resume.resume_run = "abc";
  EXPECT_THROW(execute(config, resume, test_factory()), core::InputError);
}

TEST(Executor, AFailedSceneDoesNotStopTheRun) {
  const Scratch scratch;
  const auto config = write_config(scratch.path());
  TestSystemOptions failing;
  failing.fail_story = "fox-and-crow";
  failing.fail_scene = 1;
  std::ostringstream log;
  Options options = quiet_options();
  options.log = &log;
  const Outcome outcome = execute(config, options, test_factory(failing));
  EXPECT_EQ(outcome.status, "failed");
  EXPECT_EQ(outcome.exit_code(), core::ExitCode::kRunFailure);
  EXPECT_EQ(outcome.failed, 2u);  // scene 1 of fox-and-crow, for both seeds
  EXPECT_EQ(outcome.completed, outcome.planned - 2u);
  EXPECT_NE(log.str().find("ours/fox-and-crow/seed-0/scene-1 failed: test system refuses scene 1"), std::string::npos)
      << log.str();

  const store::Store store = store::Store::open(store_of(config));
  const auto failed = store.list_items(std::stoll(outcome.run_id), "failed");
  ASSERT_EQ(failed.size(), 2u);
  EXPECT_NE(failed[0].error.find("refuses scene 1 of fox-and-crow"), std::string::npos);
  EXPECT_EQ(store.get_run(std::stoll(outcome.run_id)).status, "failed");

  // Re-running with a system that works retries the failed items and finishes.
  const Outcome retry = execute(config, quiet_options(), test_factory());
  EXPECT_EQ(retry.completed, 2u);
  EXPECT_EQ(retry.status, "finished");
  expect_complete_run(config, store_of(config), "after retry");
}

TEST(Executor, AFailedPortraitFailsTheScenesThatNeedIt) {
  const Scratch scratch;
  RunSetup setup;
  setup.seeds = "[0]";
  const auto config = write_config(scratch.path(), setup);
  TestSystemOptions failing;
  failing.fail_story = "tortoise-and-hare";
  failing.fail_portrait = 1;
  const Outcome outcome = execute(config, quiet_options(), test_factory(failing));
  EXPECT_EQ(outcome.status, "failed");
  // The portrait and both scenes of its story; every other item is done.
  EXPECT_EQ(outcome.failed_total, 3u);
  EXPECT_EQ(outcome.remaining, 0u);
  const store::Store store = store::Store::open(store_of(config));
  std::size_t blocked = 0;
  for (const auto& item : store.list_items(std::stoll(outcome.run_id), "failed")) {
    EXPECT_EQ(item.key.story, "tortoise-and-hare");
    if (item.key.kind == "scene") {
      ++blocked;
      EXPECT_NE(item.error.find("portrait"), std::string::npos) << item.error;
    }
  }
  EXPECT_EQ(blocked, 2u);
}

TEST(Executor, SigintFinishesTheCurrentItemAndMarksTheRunInterrupted) {
  const Scratch scratch;
  const auto config = write_config(scratch.path());
  StopSignals::reset();
  std::size_t claimed = 0;
  {
    const StopSignals signals;
    Options options = quiet_options();
    options.stop_requested = [] { return StopSignals::requested(); };
    options.test_hook = [&](const std::string& event) {
      if (event == "claimed" && ++claimed == 4) std::raise(SIGINT);
    };
    const Outcome outcome = execute(config, options, test_factory());
    EXPECT_EQ(outcome.status, "interrupted");
    EXPECT_TRUE(outcome.interrupted);
    EXPECT_EQ(outcome.completed, 4u);  // the item in hand when SIGINT came was finished
    EXPECT_EQ(outcome.exit_code(), core::ExitCode::kRunFailure);
    const store::Store store = store::Store::open(store_of(config));
    EXPECT_EQ(store.get_run(std::stoll(outcome.run_id)).status, "interrupted");
    EXPECT_EQ(store.list_items(std::stoll(outcome.run_id), "done").size(), 4u);
    EXPECT_TRUE(store.list_items(std::stoll(outcome.run_id), "running").empty());
  }
  StopSignals::reset();
  EXPECT_EQ(execute(config, quiet_options(), test_factory()).status, "finished");
  expect_complete_run(config, store_of(config), "after SIGINT");
}

TEST(Executor, UnknownSystemIsAnInputErrorAndLeavesTheRunResumable) {
  const Scratch scratch;
  const auto config = write_config(scratch.path());
  const SystemFactory refusing = [](const harness::SystemConfig& system, const systems::ModelSettings&)
      -> std::unique_ptr<systems::System> {
    throw core::InputError(core::Location{"", 0, "systems[0].type"}, "a known system type, got " + system.type);
  };
  EXPECT_THROW(execute(config, quiet_options(), refusing), core::InputError);
  const store::Store store = store::Store::open(store_of(config));
  const auto runs = store.runs_with_config_hash(config.hash);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs.front().status, "failed");
  EXPECT_TRUE(store.list_items(runs.front().id, "running").empty());
  EXPECT_EQ(execute(config, quiet_options(), test_factory()).status, "finished");
}

// The oracle cannot plan a raw story (no annotations): the run plans and draws the
// others, then ends failed naming the story.
TEST(Executor, AStoryTheDirectorCannotPlanFailsTheRunButNotTheOthers) {
  const Scratch scratch;
  std::ifstream sample(std::string(DSBENCH_SOURCE_DIR) + "/datasets/ds500-sample/stories.jsonl");
  std::string first, second;
  std::getline(sample, first);
  std::getline(sample, second);
  std::filesystem::create_directories(scratch.path() / "data");
  std::ofstream(scratch.path() / "data/stories.jsonl")
      << first << "\n"
      << second << "\n"
      << R"({"id": "raw-tale", "title": "Raw", "category": "real-story", "text": "Once a miller had three sons.", "annotated": false})"
      << "\n";
  RunSetup setup;
  setup.dataset_root = (scratch.path() / "data").string();
  setup.seeds = "[0]";
  const auto config = write_config(scratch.path(), setup);
  std::ostringstream log;
  Options options = quiet_options();
  options.log = &log;
  const Outcome outcome = execute(config, options, test_factory());
  EXPECT_EQ(outcome.status, "failed");
  EXPECT_EQ(outcome.exit_code(), core::ExitCode::kRunFailure);
  EXPECT_EQ(outcome.planned, 4u + 2u + 2u + 2u);  // hansel-and-gretel and fox-and-crow only
  EXPECT_EQ(outcome.completed, outcome.planned);
  EXPECT_NE(log.str().find("raw-tale"), std::string::npos) << log.str();
  const store::Store store = store::Store::open(store_of(config));
  const auto run = store.get_run(std::stoll(outcome.run_id));
  EXPECT_EQ(run.status, "failed");
  EXPECT_NE(run.message.find("raw-tale"), std::string::npos) << run.message;
}

// An output folder that cannot be written stops the run with a clear error (not one
// failure per item); nothing committed is lost and the resume finishes the run.
TEST(Executor, AnUnwritableOutputFolderStopsTheRunAndTheResumeRepairsIt) {
  const Scratch scratch;
  const auto config = write_config(scratch.path());
  Options options = quiet_options();
  options.max_items = 5;
  EXPECT_EQ(execute(config, options, test_factory()).completed, 5u);

  // A file where the run folder's "ours" directory should be: writes below it fail.
  const auto run_dir = std::filesystem::path(config.output_dir) / "run-1";
  const auto moved = scratch.path() / "ours.moved";
  std::filesystem::rename(run_dir / "ours", moved);
  std::ofstream(run_dir / "ours") << "not a folder";
  std::size_t done_before = 0;
  try {
    execute(config, quiet_options(), test_factory());
    FAIL() << "expected a RunError";
  } catch (const core::RunError& error) {
    EXPECT_NE(std::string(error.what()).find("cannot write the images of ours/"), std::string::npos) << error.what();
  }
  {
    const store::Store store = store::Store::open(store_of(config));
    EXPECT_EQ(store.get_run(1).status, "failed");
    done_before = store.list_items(1, "done").size();
    // A scene claimed first could not read its portraits there: they went back to
    // pending to be redrawn (nothing else done was undone), the scene waits for them.
    EXPECT_LE(done_before, 5u);
    EXPECT_GE(done_before, 3u);
    EXPECT_TRUE(store.list_items(1, "running").empty());
    EXPECT_TRUE(store.list_items(1, "failed").empty());
  }
  std::filesystem::remove(run_dir / "ours");
  std::filesystem::rename(moved, run_dir / "ours");
  const Outcome resumed = execute(config, quiet_options(), test_factory());
  EXPECT_EQ(resumed.status, "finished");
  EXPECT_EQ(resumed.done_before, done_before);
  expect_complete_run(config, store_of(config), "after the output folder came back");
}

// A portrait file changed on disk after it was recorded: the scenes that need it fail
// with a message naming the file; the run goes on.
// A portrait damaged once is redrawn (tests/faults); one that is damaged again after
// every redraw fails its scenes, naming the file, instead of looping.
TEST(Executor, APortraitDamagedAfterEveryRedrawFailsItsScenesWithAClearMessage) {
  const Scratch scratch;
  RunSetup setup;
  setup.seeds = "[0]";
  const auto config = write_config(scratch.path(), setup);
  Options options = quiet_options();
  const auto portrait = std::filesystem::path(config.output_dir) / "run-1/ours/fox-and-crow/seed-0/portrait_Reynard.png";
  options.test_hook = [&](const std::string& event) {
    // Once fox-and-crow's portraits are recorded, before its scenes run, damage one.
    if (event == "claimed" && std::filesystem::exists(portrait) && std::filesystem::file_size(portrait) > 10) {
      std::filesystem::resize_file(portrait, 10);
    }
  };
  const Outcome outcome = execute(config, options, test_factory());
  EXPECT_EQ(outcome.status, "failed");
  const store::Store store = store::Store::open(store_of(config));
  const auto failed = store.list_items(std::stoll(outcome.run_id), "failed");
  ASSERT_FALSE(failed.empty());
  for (const auto& item : failed) {
    EXPECT_EQ(item.key.story, "fox-and-crow");
    EXPECT_EQ(item.key.kind, "scene");
    EXPECT_NE(item.error.find("portrait_Reynard.png does not match its recorded sha256"), std::string::npos) << item.error;
  }
}

TEST(Executor, DatabaseUrlsOtherThanPostgresqlAreInputErrors) {
  const Scratch scratch;
  auto config = write_config(scratch.path());
  config.store.url = "mysql://localhost/dsbench";
  EXPECT_THROW(execute(config, quiet_options(), test_factory()), core::InputError);
}

// Two shards write their own store files; merged, they equal one unsharded run item
// for item (same keys, same image hashes).
TEST(Executor, TwoShardsPlusMergeEqualOneUnshardedRun) {
  const Scratch scratch;
  const auto config = write_config(scratch.path());
  std::size_t shard_items = 0;
  for (int k = 0; k < 2; ++k) {
    Options options = quiet_options();
    options.shard = planning::ShardSpec{k, 2};
    const Outcome outcome = execute(config, options, test_factory());
    EXPECT_EQ(outcome.status, "finished");
    EXPECT_GT(outcome.planned, 0u);
    shard_items += outcome.planned;
  }
  const auto shard_store = [&](int k) {
    return std::filesystem::path(config.store.url).parent_path() / ("store.shard-" + std::to_string(k) + "-of-2.sqlite");
  };
  ASSERT_TRUE(std::filesystem::exists(shard_store(0)));
  ASSERT_TRUE(std::filesystem::exists(shard_store(1)));
  EXPECT_FALSE(std::filesystem::exists(config.store.url));

  const auto merged_path = scratch.path() / "merged.sqlite";
  {
    store::Store merged = store::Store::open(merged_path);
    for (int k = 0; k < 2; ++k) {
      const store::Store shard = store::Store::open(shard_store(k));
      merged.merge_run_from(shard, shard.runs_with_config_hash(config.hash).front().id);
    }
  }
  const auto merged_run = expect_complete_run(config, merged_path, "merged shards");

  const auto single_folder = scratch.path() / "single";
  std::filesystem::create_directories(single_folder);
  const auto single_config = write_config(single_folder);
  // Its own store and images (another config hash, as paths differ): compared by content.
  execute(single_config, quiet_options(), test_factory());
  const auto single_run = expect_complete_run(single_config, single_config.store.url, "unsharded");

  const auto digest = [](const std::filesystem::path& path, store::RunId run) {
    const store::Store store = store::Store::open(path);
    std::map<std::string, std::string> by_key;
    std::map<store::ItemId, std::string> key_of;
    for (const auto& item : store.list_items(run)) {
      key_of[item.id] = item.key.system + "/" + item.key.story + "/" + item.key.kind + "/" +
                        std::to_string(item.key.index) + "/" + std::to_string(item.key.seed) + "/" + item.status;
    }
    for (const auto& artifact : store.artifacts_of_run(run)) by_key[key_of.at(artifact.item) + "/" + artifact.name] = artifact.sha256;
    return by_key;
  };
  const auto merged = digest(merged_path, merged_run.id);
  EXPECT_EQ(shard_items, 30u);
  EXPECT_EQ(merged.size(), 30u + 18u);  // every item's image and the 18 portraits' masks
  EXPECT_EQ(merged, digest(single_config.store.url, single_run.id));
}

}  // namespace
}  // namespace dsbench::executor::testing
