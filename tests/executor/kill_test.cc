// The must-show test: workers (forked children running the executor) are SIGKILLed at
// seeded random moments, by a timer or at chosen points inside an item (after a file is
// renamed into place, just before the commit, right after claiming), and rerun until
// the run finishes. Then every planned item is done exactly once, every artifact matches
// its recorded sha256 and the expected pixels, and no temporary file remains.
#include <chrono>
#include <iostream>
#include <random>
#include <thread>

#include "tests/executor/run_fixture.h"

namespace dsbench::executor::testing {
namespace {

constexpr int kMaxAttempts = 60;

// A worker that dies at its `kill_at`-th occurrence of `event` (test hook: the kill
// lands exactly there, e.g. between the renames of an item's two files).
Options dying_at(const std::string& event, int kill_at) {
  Options options = quiet_options();
  auto seen = std::make_shared<int>(0);
  options.test_hook = [event, kill_at, seen](const std::string& name) {
    if (name == event && ++*seen == kill_at) ::raise(SIGKILL);
  };
  return options;
}

const std::vector<std::string> kKillPoints = {"claimed", "generated", "file_written", "before_complete", "completed"};

struct TrialStats {
  int timer_kills = 0;
  int point_kills = 0;
};

// How long a whole undisturbed run takes here and now (timer kills are spread over it,
// so they land inside runs on fast and slow machines alike).
std::chrono::microseconds full_run_duration(const RunSetup& setup, const TestSystemOptions& system = {}) {
  const Scratch scratch;
  const auto config = write_config(scratch.path(), setup);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(wait_child(fork_worker(config, quiet_options(), test_factory(system))).exit_code, 0);
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start);
}

std::chrono::microseconds random_delay(std::mt19937_64& random, std::chrono::microseconds span) {
  return std::chrono::microseconds(static_cast<long>(random() % static_cast<std::uint64_t>(span.count() + 1)));
}

// One seeded trial with one worker at a time: each attempt is killed either by a timer
// (random delay within a run's duration) or at a random point inside an item, until an
// attempt exits by itself.
TrialStats single_worker_trial(const harness::RunConfig& config, std::uint64_t seed, std::chrono::microseconds span) {
  std::mt19937_64 random(seed);
  TrialStats stats;
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    // The last attempts run undisturbed so the trial always ends.
    const bool disturb = attempt < 10;
    const bool by_timer = random() % 3 == 0;
    Options options = quiet_options();
    if (disturb && !by_timer) {
      options = dying_at(kKillPoints[random() % kKillPoints.size()], 1 + static_cast<int>(random() % 6));
    }
    const pid_t child = fork_worker(config, options, test_factory());
    if (disturb && by_timer) {
      std::this_thread::sleep_for(random_delay(random, span));
      ::kill(child, SIGKILL);
    }
    const ChildEnd end = wait_child(child);
    if (end.killed) {
      ++(disturb && by_timer ? stats.timer_kills : stats.point_kills);
      continue;
    }
    EXPECT_EQ(end.exit_code, 0) << "seed " << seed;
    return stats;
  }
  ADD_FAILURE() << "seed " << seed << ": the run did not finish in " << kMaxAttempts << " attempts";
  return stats;
}

TEST(KillResume, SigkillAtRandomPointsResumesToEveryItemOnce) {
  const auto span = full_run_duration({});
  int timer_kills = 0, point_kills = 0;
  for (std::uint64_t seed = 1; seed <= 12; ++seed) {
    const Scratch scratch;
    const auto config = write_config(scratch.path());
    const TrialStats stats = single_worker_trial(config, seed, span);
    timer_kills += stats.timer_kills;
    point_kills += stats.point_kills;
    expect_complete_run(config, config.store.url, "seed " + std::to_string(seed));
    if (::testing::Test::HasFailure()) return;
  }
  std::cout << "12 trials: " << timer_kills << " timer kills, " << point_kills << " in-item kills (run "
            << span.count() / 1000 << " ms)\n";
  // Runs were really killed, by both kinds of kill (how many timers land before a run
  // ends depends on the machine's load; the seeds fix everything else).
  EXPECT_GE(timer_kills + point_kills, 12 * 2);
  EXPECT_GE(timer_kills, 1);
  EXPECT_GE(point_kills, 12);
}

// Two workers on one store at once; each attempt kills one of them, both or neither, at
// random times or points. The survivors take over the dead worker's claims.
TEST(KillResume, TwoConcurrentWorkersUnderSigkillFinishEveryItemOnce) {
  RunSetup setup;
  setup.systems = "[{name: ours, type: dreamstory}, {name: plain, type: vanilla}]";
  TestSystemOptions slow;
  slow.delay_ms = 1;  // the two workers overlap for most of a run
  const auto span = full_run_duration(setup, slow);
  int kills = 0;
  for (std::uint64_t seed = 101; seed <= 108; ++seed) {
    const Scratch scratch;
    const auto config = write_config(scratch.path(), setup);
    std::mt19937_64 random(seed);
    bool finished = false;
    for (int round = 0; round < kMaxAttempts && !finished; ++round) {
      const bool disturb = round < 8;
      pid_t children[2];
      bool timed[2] = {false, false};
      for (int w = 0; w < 2; ++w) {
        Options options = quiet_options();
        const int mode = disturb ? static_cast<int>(random() % 3) : 2;  // 0 timer, 1 kill point, 2 none
        if (mode == 1) options = dying_at(kKillPoints[random() % kKillPoints.size()], 1 + static_cast<int>(random() % 10));
        timed[w] = mode == 0;
        children[w] = fork_worker(config, options, test_factory(slow));
      }
      if (timed[0] || timed[1]) {
        std::this_thread::sleep_for(random_delay(random, span / 2));
        for (int w = 0; w < 2; ++w) {
          if (timed[w]) ::kill(children[w], SIGKILL);
        }
      }
      bool both_clean = true;
      for (int w = 0; w < 2; ++w) {
        const ChildEnd end = wait_child(children[w]);
        if (end.killed) {
          ++kills;
          both_clean = false;
        } else {
          EXPECT_EQ(end.exit_code, 0) << "seed " << seed << " round " << round << " worker " << w;
        }
      }
      finished = both_clean;
    }
    EXPECT_TRUE(finished) << "seed " << seed;
    expect_complete_run(config, config.store.url, "two workers, seed " + std::to_string(seed));
    if (::testing::Test::HasFailure()) return;
  }
  std::cout << "8 trials with 2 workers: " << kills << " kills (run " << span.count() / 1000 << " ms)\n";
  EXPECT_GE(kills, 8);
}

// Two undisturbed workers really share the work (neither does it all) and never run an
// item twice.
TEST(KillResume, TwoWorkersShareTheRun) {
  const Scratch scratch;
  RunSetup setup;
  setup.systems = "[{name: ours, type: dreamstory}, {name: plain, type: vanilla}]";
  setup.seeds = "[0, 1, 2]";
  const auto config = write_config(scratch.path(), setup);
  TestSystemOptions slow;
  slow.delay_ms = 5;  // 90 items of >= 5 ms: the second worker joins long before the end
  const pid_t a = fork_worker(config, quiet_options(), test_factory(slow));
  const pid_t b = fork_worker(config, quiet_options(), test_factory(slow));
  EXPECT_EQ(wait_child(a).exit_code, 0);
  EXPECT_EQ(wait_child(b).exit_code, 0);
  const auto run = expect_complete_run(config, config.store.url, "two workers");
  const store::Store store = store::Store::open(config.store.url);
  std::map<std::string, int> per_worker;
  for (const auto& item : store.list_items(run.id)) {
    ++per_worker[item.info.value("worker", std::string())];
    EXPECT_EQ(item.attempts, 1) << item.key.story;
  }
  EXPECT_EQ(per_worker.size(), 2u);
}

}  // namespace
}  // namespace dsbench::executor::testing
