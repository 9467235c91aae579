// Faults during a run: what is committed survives, the error is clear, the exit is
// non-zero, and running again completes the run with every artifact's sha256 verified.
#include <gtest/gtest.h>

#include <sys/resource.h>

#include <atomic>
#include <cstdio>
#include <tuple>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "core/errors.h"
#include "core/files.h"
#include "core/hashing.h"
#include "harness/executor/executor.h"
#include "harness/store/store.h"
#include "tests/executor/run_fixture.h"
#include "tests/store/postgres_server.h"
#include "tests/support/run_command.h"

namespace dsbench::executor::testing {
namespace {

std::filesystem::path store_of(const harness::RunConfig& config) { return config.store.url; }

// Three forked workers on one PostgreSQL database; one is SIGKILLed while it holds a
// claim whose image is already on disk but not committed. It runs as another host's
// worker, so the survivors cannot see that it died and must wait for its lease.
TEST(Faults, PostgresThreeWorkersOneKilledFinishEveryItemExactlyOnce) {
  auto* server = dsbench::testing::PostgresServer::instance();
  if (server == nullptr) GTEST_SKIP() << dsbench::testing::PostgresServer::skip_reason();
  const std::string url = server->create_database("dsbench_faults_three_workers");
  const Scratch scratch;
  RunSetup setup;
  setup.systems = "[{name: ours, type: dreamstory}, {name: plain, type: vanilla}]";
  const auto config = write_config(scratch.path(), setup);
  const Expected expected = expected_images(config);

  TestSystemOptions slow;
  slow.delay_ms = 20;
  Options options = quiet_options();
  options.store_path = url;
  options.lease_seconds = 1.0;
  options.heartbeat_seconds = 0.2;

  Options victim = options;
  victim.worker_id = "another-host:1";
  int written = 0;
  victim.test_hook = [&written](const std::string& event) {
    if (event == "file_written" && ++written == 4) ::raise(SIGKILL);
  };
  std::vector<pid_t> workers;
  workers.push_back(fork_worker(config, victim, test_factory(slow)));
  for (int w = 0; w < 2; ++w) workers.push_back(fork_worker(config, options, test_factory(slow)));
  const ChildEnd killed = wait_child(workers[0]);
  EXPECT_TRUE(killed.killed);
  for (std::size_t w = 1; w < workers.size(); ++w) {
    const ChildEnd end = wait_child(workers[w]);
    EXPECT_FALSE(end.killed);
    EXPECT_EQ(end.exit_code, 0) << "worker " << w;
  }

  const store::RunInfo run = expect_complete_run(config, url, "three workers on PostgreSQL, one killed");
  ASSERT_NE(run.id, 0);
  const store::Store store = store::Store::open(url);
  const auto items = store.list_items(run.id);
  EXPECT_EQ(items.size(), expected.items);
  std::set<std::string> finishers;
  int retried = 0;
  for (const auto& item : items) {
    finishers.insert(item.info.value("worker", std::string()));
    if (item.attempts > 1) ++retried;
  }
  // The victim's claim ran out and another worker redid it.
  EXPECT_GE(retried, 1);
  EXPECT_EQ(finishers.count("another-host:1"), 1u) << "the victim finished its first items";
}

// Everything a store says is done, with every artifact file matching its sha256.
std::size_t verified_done_items(const std::filesystem::path& store_path, store::RunId run,
                                const std::filesystem::path& output_dir) {
  const store::Store store = store::Store::open(store_path);
  std::size_t done = 0;
  for (const auto& item : store.list_items(run, "done")) {
    ++done;
    const auto artifacts = store.artifacts_of_item(item.id);
    EXPECT_FALSE(artifacts.empty());
    for (const auto& artifact : artifacts) {
      EXPECT_EQ(core::sha256_hex(core::read_file(output_dir / artifact.path)), artifact.sha256) << artifact.path;
    }
  }
  return done;
}

// The product path: `dsbench run --store postgresql://...` runs the real tiny model into
// the database, and `--resume RUN --store URL` finds the run's stored config there.
TEST(Faults, DsbenchRunWithAPostgresqlStore) {
  const std::filesystem::path binary = std::filesystem::path(DSBENCH_BINARY_DIR) / "dsbench";
  if (!std::filesystem::exists(binary)) GTEST_SKIP() << "dsbench is not built";
  auto* server = dsbench::testing::PostgresServer::instance();
  if (server == nullptr) GTEST_SKIP() << dsbench::testing::PostgresServer::skip_reason();
  const std::string url = server->create_database("dsbench_faults_cli");
  const Scratch scratch;
  const auto config = scratch.path() / "smoke-vanilla.yaml";
  std::ofstream(config) << "extends: " << DSBENCH_SOURCE_DIR << "/configs/smoke.yaml\nsystems:\n  - type: vanilla\n";
  const std::string common = "'" + binary.string() + "' run --no-progress --store '" + url + "'";
  const auto first = dsbench::testing::run_command(
      common + " --config '" + config.string() +
      "' --set dataset.limit=1 --set dataset.max_scenes=1 --set sampler.steps=1 --set output_dir=" +
      (scratch.path() / "images").string());
  ASSERT_EQ(first.exit_code, 0) << first.output;
  EXPECT_NE(first.output.find("run 1: finished"), std::string::npos) << first.output;
  EXPECT_NE(first.output.find("evaluated run 1"), std::string::npos) << first.output;
  {
    const store::Store store = store::Store::open(url);
    const auto items = store.list_items(1, "done");
    EXPECT_FALSE(items.empty());
    EXPECT_EQ(store.list_items(1).size(), items.size());
    EXPECT_FALSE(store.metric_summaries(1).empty());
    EXPECT_EQ(verified_done_items(url, 1, scratch.path() / "images"), items.size());
  }
  const auto resumed = dsbench::testing::run_command(common + " --resume 1 --no-eval");
  EXPECT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("resuming run 1"), std::string::npos) << resumed.output;
  EXPECT_FALSE(std::filesystem::exists(url + ".lock")) << "no lock file for a database";
}

// The disk fills up under a worker: with RLIMIT_FSIZE below the size of a 512x512 PNG
// (and SIGXFSZ ignored) image writes fail with EFBIG while the store still takes its
// small commits. Clear error, exit 1, nothing committed lost; resume completes.
TEST(Faults, DiskFullStopsTheWorkerAndTheResumeCompletes) {
  const Scratch scratch;
  RunSetup setup;
  setup.seeds = "[0]";
  const auto config = write_config(scratch.path(), setup);
  const auto factory = [](const harness::SystemConfig& system, const systems::ModelSettings&) {
    TestSystemOptions options;
    options.name = system.name;
    options.size = 512;  // noise: a ~770 KB PNG
    return std::make_unique<TestSystem>(options);
  };
  Options first = quiet_options();
  first.max_items = 3;
  EXPECT_EQ(execute(config, first, factory).completed, 3u);
  const auto output_dir = std::filesystem::path(config.output_dir);
  ASSERT_EQ(verified_done_items(store_of(config), 1, output_dir), 3u);

  std::uintmax_t largest_store_file = 0;
  for (const auto& entry : std::filesystem::directory_iterator(scratch.path())) {
    if (entry.path().filename().string().starts_with("store.sqlite")) {
      largest_store_file = std::max(largest_store_file, entry.file_size());
    }
  }
  const rlim_t limit = largest_store_file + 256 * 1024;
  ASSERT_LT(limit, 700u * 1024) << "the store grew beyond what this test assumes";

  int pipe_ends[2];
  ASSERT_EQ(::pipe(pipe_ends), 0);
  const pid_t child = ::fork();
  if (child == 0) {
    ::close(pipe_ends[0]);
    std::signal(SIGXFSZ, SIG_IGN);
    const rlimit size_limit{limit, limit};
    ::setrlimit(RLIMIT_FSIZE, &size_limit);
    std::string message = "no error";
    int code = 0;
    try {
      code = static_cast<int>(execute(config, quiet_options(), factory).exit_code());
    } catch (const core::Error& error) {
      message = error.what();
      code = static_cast<int>(error.code());
    } catch (const std::exception& error) {
      message = std::string("unexpected: ") + error.what();
      code = 3;
    }
    (void)!::write(pipe_ends[1], message.data(), message.size());
    ::_exit(code);
  }
  ::close(pipe_ends[1]);
  std::string message;
  char buffer[512];
  for (ssize_t n; (n = ::read(pipe_ends[0], buffer, sizeof buffer)) > 0;) message.append(buffer, static_cast<std::size_t>(n));
  ::close(pipe_ends[0]);
  const ChildEnd end = wait_child(child);
  EXPECT_FALSE(end.killed) << "SIGXFSZ must not kill the worker";
  EXPECT_EQ(end.exit_code, 1) << message;
  EXPECT_NE(message.find("cannot write the images of"), std::string::npos) << message;
  EXPECT_NE(message.find("File too large"), std::string::npos) << message;

  // Nothing committed was lost, nothing half-written was recorded.
  EXPECT_EQ(verified_done_items(store_of(config), 1, output_dir), 3u);
  {
    const store::Store store = store::Store::open(store_of(config));
    EXPECT_EQ(store.get_run(1).status, "failed");
    EXPECT_TRUE(store.list_items(1, "running").empty());
    EXPECT_TRUE(store.list_items(1, "failed").empty());
  }

  const Outcome resumed = execute(config, quiet_options(), factory);
  EXPECT_EQ(resumed.status, "finished");
  EXPECT_EQ(resumed.done_before, 3u);
  const store::Store store = store::Store::open(store_of(config));
  EXPECT_EQ(verified_done_items(store_of(config), 1, output_dir), expected_images(config).items);
  EXPECT_EQ(store.list_items(1).size(), expected_images(config).items);
  EXPECT_TRUE(temporary_files(output_dir).empty());
}

// The SQLite store file is deleted while a worker runs: it stops before its next item
// with a clear RunError instead of committing into an unlinked file; the images stay;
// a new run (a new store) completes.
TEST(Faults, StoreFileDeletedMidRunStopsTheWorkerAndANewRunCompletes) {
  const Scratch scratch;
  const auto config = write_config(scratch.path());
  Options options = quiet_options();
  int completed = 0;
  options.test_hook = [&](const std::string& event) {
    if (event == "completed" && ++completed == 4) std::filesystem::remove(store_of(config));
  };
  try {
    execute(config, options, test_factory());
    FAIL() << "expected a RunError";
  } catch (const core::RunError& error) {
    EXPECT_EQ(error.code(), core::ExitCode::kRunFailure);
    EXPECT_NE(std::string(error.what()).find("the run store was deleted during the run"), std::string::npos)
        << error.what();
  }
  EXPECT_EQ(completed, 4) << "no item after the deletion";
  EXPECT_FALSE(std::filesystem::exists(store_of(config)));
  // The four finished main images are still on disk (side images are <stem>.<name>.png).
  std::size_t images = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(config.output_dir)) {
    if (entry.is_regular_file() && entry.path().extension() == ".png" &&
        entry.path().stem().string().find('.') == std::string::npos) {
      ++images;
    }
  }
  EXPECT_EQ(images, 4u);

  const Outcome fresh = execute(config, quiet_options(), test_factory());
  EXPECT_EQ(fresh.status, "finished");
  EXPECT_FALSE(fresh.resumed);
  expect_complete_run(config, store_of(config), "a new store after the old one was deleted");
}

// A done portrait's PNG is damaged on disk before its scenes ran: the resume notices
// it when a scene loads it, redraws the portrait, then draws the scene; every artifact
// ends verified and every pixel as expected.
TEST(Faults, ACorruptPortraitPngIsRedrawnOnResume) {
  const Scratch scratch;
  RunSetup setup;
  setup.seeds = "[0]";
  const auto config = write_config(scratch.path(), setup);
  const auto portrait = std::filesystem::path(config.output_dir) / "run-1/ours/fox-and-crow/seed-0/portrait_Reynard.png";
  Options first = quiet_options();
  std::atomic<bool> stop = false;
  first.test_hook = [&](const std::string& event) {
    if (event == "completed" && std::filesystem::exists(portrait)) stop = true;
  };
  first.stop_requested = [&] { return stop.load(); };
  const Outcome interrupted = execute(config, first, test_factory());
  ASSERT_TRUE(interrupted.interrupted);
  store::ItemId portrait_item = 0;
  {
    const store::Store store = store::Store::open(store_of(config));
    for (const auto& item : store.list_items(1)) {
      if (item.key.story != "fox-and-crow") continue;
      if (item.key.kind == "scene") EXPECT_NE(item.status, "done") << "a scene ran before its portrait was damaged";
      if (item.key.kind == "portrait" && item.label == "Reynard") portrait_item = item.id;
    }
  }
  ASSERT_NE(portrait_item, 0);
  const std::size_t portrait_artifacts = store::Store::open(store_of(config)).artifacts_of_item(portrait_item).size();
  const std::string original = core::read_file(portrait);
  std::string damaged = original;
  damaged.resize(damaged.size() / 2);
  core::write_file_atomic(portrait, damaged);

  std::ostringstream log;
  Options resume = quiet_options();
  resume.log = &log;
  const Outcome resumed = execute(config, resume, test_factory());
  EXPECT_EQ(resumed.status, "finished") << log.str();
  EXPECT_NE(log.str().find("waits for its portrait to be redrawn"), std::string::npos) << log.str();
  EXPECT_NE(log.str().find("portrait_Reynard.png does not match its recorded sha256"), std::string::npos) << log.str();
  EXPECT_EQ(core::read_file(portrait), original) << "redrawn as it was first drawn";
  expect_complete_run(config, store_of(config), "resume after a damaged portrait");
  const store::Store store = store::Store::open(store_of(config));
  EXPECT_EQ(store.get_item(portrait_item).attempts, 2);
  EXPECT_EQ(store.artifacts_of_item(portrait_item).size(), portrait_artifacts) << "old rows dropped, new ones recorded";
}

}  // namespace
}  // namespace dsbench::executor::testing
