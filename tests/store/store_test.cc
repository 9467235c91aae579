// The run store: migrations, uniqueness of items, claims and leases, idempotent
// completion, concurrent workers, metric upserts (NaN kept), the embedding cache, the
// director call store, merge, and the errors for files that are not stores.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "core/errors.h"
#include "core/hashing.h"
#include "harness/store/store.h"
#include "tests/store/postgres_server.h"

namespace dsbench::store {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// Every test of StoreTest runs on SQLite and on a real PostgreSQL server.
class StoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "postgres") {
      server_ = testing::PostgresServer::instance();
      if (server_ == nullptr) GTEST_SKIP() << testing::PostgresServer::skip_reason();
    }
    dir_ = fs::temp_directory_path() /
           ("dsbench_store_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Where a store named `name` lives for this backend: a file, or a fresh database.
  std::string location(const std::string& name) {
    if (server_ == nullptr) return (dir_ / name).string();
    static int counter = 0;
    return server_->create_database("dsbench_t" + std::to_string(++counter));
  }
  // The same store again (a second connection).
  std::string again(const std::string& location) const { return location; }

  static NewRun new_run(const std::string& hash = "hash-a") {
    return {"smoke", R"({"name":"smoke"})", hash, "0.1.0", "host", "/tmp/out"};
  }

  // Two groups: each with 2 portraits and 3 scenes.
  static std::vector<NewItem> plan() {
    std::vector<NewItem> items;
    for (const std::string story : {"s1", "s2"}) {
      const std::string group = "vanilla/" + story + "/seed-0";
      for (int i = 0; i < 2; ++i) items.push_back({{"vanilla", story, "portrait", i, 0}, group, 1.0, "p"});
      for (int i = 0; i < 3; ++i) items.push_back({{"vanilla", story, "scene", i, 0}, group, 2.0, "scene"});
    }
    return items;
  }

  fs::path dir_;
  testing::PostgresServer* server_ = nullptr;
};

INSTANTIATE_TEST_SUITE_P(Backends, StoreTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

// Failure modes of SQLite files.
class SqliteStoreTest : public StoreTest {};
INSTANTIATE_TEST_SUITE_P(Sqlite, SqliteStoreTest, ::testing::Values("sqlite"),
                         [](const auto& info) { return info.param; });

TEST_P(SqliteStoreTest, CreatesTheSchemaAndReopens) {
  const fs::path path = dir_ / "sub/dir/runs.sqlite";
  {
    Store store = Store::open(path);
    EXPECT_EQ(store.schema_version(), current_schema_version());
    EXPECT_GE(current_schema_version(), 1);
    const RunId id = store.create_run(new_run());
    EXPECT_EQ(store.get_run(id).status, "created");
  }
  Store again = Store::open(path);
  ASSERT_EQ(again.list_runs().size(), 1u);
  EXPECT_EQ(again.list_runs()[0].config_hash, "hash-a");
  EXPECT_EQ(again.list_runs()[0].created_at.size(), 20u);  // 2026-11-25T07:31:02Z
}

TEST_P(SqliteStoreTest, NotAStoreIsAnInputErrorNamingTheFile) {
  const fs::path path = dir_ / "notes.sqlite";
  std::ofstream(path) << "these are my notes, not a database; they are long enough to look like a header....\n";
  try {
    (void)Store::open(path);
    FAIL() << "expected an InputError";
  } catch (const core::InputError& error) {
    EXPECT_THAT(error.what(), HasSubstr(path.string()));
    EXPECT_THAT(error.what(), HasSubstr("not a dsbench run store"));
  }
}

TEST_P(SqliteStoreTest, NoticesTheFileDeletedOrReplacedUnderIt) {
  const fs::path path = dir_ / "s.sqlite";
  Store store = Store::open(path);
  EXPECT_NO_THROW(store.check_still_in_place());
  fs::remove(path);
  try {
    store.check_still_in_place();
    FAIL() << "expected a RunError";
  } catch (const core::RunError& error) {
    EXPECT_THAT(error.what(), HasSubstr("deleted during the run"));
  }
  { Store other = Store::open(path); }  // a new file at the same path
  EXPECT_THROW(store.check_still_in_place(), core::RunError);
}

TEST_P(SqliteStoreTest, NewerSchemaIsRefused) {
  const fs::path path = dir_ / "future.sqlite";
  { Store store = Store::open(path); }
  {
    // Stamp a version from the future with the sqlite3 CLI-free route: reopen and bump.
    Store store = Store::open(path);
    (void)store;
  }
  // A store written by a newer dsbench: user_version beyond ours.
  {
    std::string command = "sqlite3 '" + path.string() + "' 'PRAGMA user_version = 999'";
    if (std::system(command.c_str()) != 0) GTEST_SKIP() << "sqlite3 CLI not installed";
  }
  try {
    (void)Store::open(path);
    FAIL() << "expected an InputError";
  } catch (const core::InputError& error) {
    EXPECT_THAT(error.what(), HasSubstr("schema version 999 is newer"));
    EXPECT_THAT(error.what(), HasSubstr(path.string()));
  }
}

TEST_P(StoreTest, AddingAPlanTwiceNeverDuplicatesAnItem) {
  Store store = Store::open(location("s.sqlite"));
  const RunId run = store.create_run(new_run());
  EXPECT_EQ(store.add_items(run, plan()), 10u);
  EXPECT_EQ(store.add_items(run, plan()), 0u);
  EXPECT_EQ(store.list_items(run).size(), 10u);
  EXPECT_THROW(store.add_items(run, {{{"vanilla", "s1", "banner", 0, 0}, "g", 1.0, ""}}), core::RunError);
}

TEST_P(StoreTest, ScenesWaitForTheirGroupsPortraits) {
  Store store = Store::open(location("s.sqlite"));
  const RunId run = store.create_run(new_run());
  store.add_items(run, plan());
  std::vector<std::string> order;
  while (auto item = store.claim_next_item(run, {"w", 60.0, {}})) {
    order.push_back(item->key.story + "/" + item->key.kind + std::to_string(item->key.index));
    // Hold the first portrait of s1 open while others are claimed.
    if (order.size() == 1) {
      auto second = store.claim_next_item(run, {"w", 60.0, {}});
      ASSERT_TRUE(second);
      order.push_back(second->key.story + "/" + second->key.kind + std::to_string(second->key.index));
      auto third = store.claim_next_item(run, {"w", 60.0, {}});
      ASSERT_TRUE(third);
      // s1's scenes are blocked by its running portraits: the next claim is s2's portrait.
      EXPECT_EQ(third->key.story, "s2");
      EXPECT_EQ(third->key.kind, "portrait");
      store.complete_item(second->id, {}, 0.1, {});
      store.complete_item(third->id, {}, 0.1, {});
    }
    store.complete_item(item->id, {{"note", 1}}, 0.5, {});
  }
  EXPECT_EQ(order.size(), 9u);  // every item but the third claim, which was completed inside
  const auto items = store.list_items(run, "done");
  EXPECT_EQ(items.size(), 10u);
}

TEST_P(StoreTest, CompleteIsAtomicAndIdempotent) {
  Store store = Store::open(location("s.sqlite"));
  const RunId run = store.create_run(new_run());
  store.add_items(run, plan());
  const auto item = store.claim_next_item(run, {"w", 60.0, {}});
  ASSERT_TRUE(item);
  EXPECT_EQ(item->status, "running");
  EXPECT_EQ(item->attempts, 1);
  const std::vector<ArtifactRecord> artifacts = {{"portrait", "image", "a/b.png", std::string(64, 'a'), 123},
                                                 {"mask", "mask_00", "a/b.mask.png", std::string(64, 'b'), 45}};
  EXPECT_TRUE(store.complete_item(item->id, {{"retries", 2}}, 1.5, artifacts));
  EXPECT_FALSE(store.complete_item(item->id, {{"retries", 9}}, 9.0, artifacts));
  const ItemRow done = store.get_item(item->id);
  EXPECT_EQ(done.status, "done");
  EXPECT_EQ(done.info["retries"], 2);
  EXPECT_DOUBLE_EQ(done.seconds, 1.5);
  const auto rows = store.artifacts_of_item(item->id);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].path, "a/b.png");
  EXPECT_EQ(rows[0].bytes, 123);
  EXPECT_EQ(rows[1].key.story, "s1");
  EXPECT_EQ(store.artifacts_of_run(run).size(), 2u);
  // A failure after completion does not undo it.
  store.fail_item(item->id, "late failure");
  EXPECT_EQ(store.get_item(item->id).status, "done");
}

TEST_P(StoreTest, ADamagedDoneItemGoesBackToPendingWithoutItsArtifacts) {
  Store store = Store::open(location("s.sqlite"));
  const RunId run = store.create_run(new_run());
  store.add_items(run, plan());
  const auto item = store.claim_next_item(run, {"w", 60.0, {}});
  ASSERT_TRUE(item);
  EXPECT_FALSE(store.reset_done_item(item->id));  // running, not done
  EXPECT_EQ(store.get_item(item->id).status, "running");
  ASSERT_TRUE(store.complete_item(item->id, {}, 1.0, {{"portrait", "image", "p.png", std::string(64, 'c'), 7}}));
  ASSERT_EQ(store.artifacts_of_item(item->id).size(), 1u);
  EXPECT_TRUE(store.reset_done_item(item->id));
  const ItemRow reset = store.get_item(item->id);
  EXPECT_EQ(reset.status, "pending");
  EXPECT_TRUE(store.artifacts_of_item(item->id).empty());
  EXPECT_FALSE(store.reset_done_item(item->id));  // already pending
  // It is claimed (and drawn) again.
  const auto again = store.claim_next_item(run, {"w2", 60.0, {}});
  ASSERT_TRUE(again);
  EXPECT_EQ(again->id, item->id);
}

TEST_P(StoreTest, RunLockRunsTheFunctionOnceAndReleasesOnThrow) {
  Store store = Store::open(location("s.sqlite"));
  int calls = 0;
  store.with_run_lock([&] { ++calls; });
  EXPECT_THROW(store.with_run_lock([&] {
    ++calls;
    throw core::RunError("inside the lock");
  }),
               core::RunError);
  // Released after the throw: taking it again does not block.
  store.with_run_lock([&] { ++calls; });
  EXPECT_EQ(calls, 3);
}

TEST_P(StoreTest, ExpiredLeaseIsClaimedAgainAndHeartbeatKeepsIt) {
  Store store = Store::open(location("s.sqlite"));
  const RunId run = store.create_run(new_run());
  store.add_items(run, {{{"vanilla", "s1", "portrait", 0, 0}, "g1", 1.0, ""},
                        {{"vanilla", "s1", "portrait", 1, 0}, "g1", 1.0, ""}});
  const auto kept = store.claim_next_item(run, {"alive", 600.0, {}});
  ASSERT_TRUE(kept);
  const auto first = store.claim_next_item(run, {"dead", -1.0, {}});  // lease already expired
  ASSERT_TRUE(first);
  EXPECT_NE(kept->id, first->id);
  EXPECT_TRUE(store.heartbeat(kept->id, "alive", 600.0));
  EXPECT_FALSE(store.heartbeat(kept->id, "someone-else", 600.0));
  const auto again = store.claim_next_item(run, {"rescuer", 600.0, {}});
  ASSERT_TRUE(again);
  EXPECT_EQ(again->id, first->id);
  EXPECT_EQ(again->attempts, 2);
  EXPECT_EQ(again->worker, "rescuer");
  EXPECT_FALSE(store.heartbeat(first->id, "dead", 600.0));  // the dead worker lost it
  EXPECT_FALSE(store.claim_next_item(run, {"late", 600.0, {}}));
}

TEST_P(StoreTest, ClaimsStayInsideTheShardsGroups) {
  Store store = Store::open(location("s.sqlite"));
  const RunId run = store.create_run(new_run());
  store.add_items(run, plan());
  std::set<std::string> stories;
  while (auto item = store.claim_next_item(run, {"w", 60.0, {"vanilla/s2/seed-0"}})) {
    stories.insert(item->key.story);
    store.complete_item(item->id, {}, 0.0, {});
  }
  EXPECT_EQ(stories, std::set<std::string>{"s2"});
  EXPECT_EQ(store.list_items(run, "pending").size(), 5u);
}

TEST_P(StoreTest, FailedPortraitFailsItsScenesAndResetRetriesThem) {
  Store store = Store::open(location("s.sqlite"));
  const RunId run = store.create_run(new_run());
  store.add_items(run, plan());
  const auto portrait = store.claim_next_item(run, {"w", 60.0, {}});
  store.fail_item(portrait->id, "out of memory");
  EXPECT_EQ(store.fail_blocked_scenes(run), 3u);
  const auto failed = store.list_items(run, "failed");
  ASSERT_EQ(failed.size(), 4u);
  EXPECT_THAT(failed[1].error, HasSubstr("out of memory"));
  EXPECT_EQ(store.reset_unfinished(run), 4u);
  EXPECT_EQ(store.list_items(run, "pending").size(), 10u);
}

TEST_P(StoreTest, TotalsSumTheStatusCountsOverSystemsAndKinds) {
  Store store = Store::open(location("s.sqlite"));
  const RunId run = store.create_run(new_run());
  EXPECT_EQ(store.totals(run).total, 0);
  auto items = plan();
  items.push_back({{"dreamstory", "s1", "portrait", 0, 0}, "dreamstory/s1/seed-0", 1.0, "p"});
  store.add_items(run, items);
  const auto done = store.claim_next_item(run, {"w", 60.0, {}});
  store.complete_item(done->id, {}, 0.1, {});
  const auto failed = store.claim_next_item(run, {"w", 60.0, {}});
  store.fail_item(failed->id, "out of memory");
  ASSERT_TRUE(store.claim_next_item(run, {"w", 60.0, {}}));  // left running

  const StatusTotals totals = store.totals(run);
  EXPECT_EQ(totals.total, 11);
  EXPECT_EQ(totals.done, 1);
  EXPECT_EQ(totals.failed, 1);
  EXPECT_EQ(totals.running, 1);
  EXPECT_EQ(totals.pending, 8);
  EXPECT_EQ(totals.unfinished(), 9);
  std::int64_t summed = 0;
  for (const auto& count : store.status_counts(run)) summed += count.count;
  EXPECT_EQ(summed, totals.total);
}

TEST_P(StoreTest, TwoConnectionsNeverClaimTheSameItem) {
  const std::string path = location("shared.sqlite");
  RunId run = 0;
  {
    Store store = Store::open(path);
    run = store.create_run(new_run());
    std::vector<NewItem> items;
    for (int i = 0; i < 200; ++i) items.push_back({{"vanilla", "s" + std::to_string(i), "portrait", 0, 0}, "g" + std::to_string(i), 1.0, ""});
    store.add_items(run, items);
  }
  std::atomic<int> completed{0};
  std::vector<std::vector<ItemId>> claimed(2);
  auto work = [&](int worker) {
    Store store = Store::open(path);
    while (auto item = store.claim_next_item(run, {"w" + std::to_string(worker), 600.0, {}})) {
      claimed[static_cast<std::size_t>(worker)].push_back(item->id);
      if (store.complete_item(item->id, {}, 0.0, {})) ++completed;
    }
  };
  std::thread a(work, 0);
  std::thread b(work, 1);
  a.join();
  b.join();
  std::set<ItemId> all(claimed[0].begin(), claimed[0].end());
  for (const ItemId id : claimed[1]) EXPECT_TRUE(all.insert(id).second) << "item " << id << " claimed twice";
  EXPECT_EQ(all.size(), 200u);
  EXPECT_EQ(completed.load(), 200);
}

TEST_P(StoreTest, RunStatusTimestamps) {
  Store store = Store::open(location("s.sqlite"));
  const RunId run = store.create_run(new_run());
  store.set_run_status(run, "running");
  EXPECT_FALSE(store.get_run(run).started_at.empty());
  EXPECT_TRUE(store.get_run(run).finished_at.empty());
  store.set_run_status(run, "interrupted", "SIGINT");
  EXPECT_EQ(store.get_run(run).message, "SIGINT");
  EXPECT_FALSE(store.get_run(run).finished_at.empty());
  EXPECT_THROW(store.set_run_status(run + 7, "running"), core::InputError);
  EXPECT_THROW(store.get_run(run + 7), core::InputError);
  EXPECT_EQ(store.runs_with_config_hash("hash-a").size(), 1u);
  EXPECT_TRUE(store.runs_with_config_hash("hash-b").empty());
}

TEST_P(StoreTest, MetricValuesUpsertAndKeepNaN) {
  Store store = Store::open(location("s.sqlite"));
  const RunId run = store.create_run(new_run());
  store.put_metric_values(run, {{"vanilla", "s1", 0, 0, "dreamsim", 0.25, {{"n", 1}}},
                                {"vanilla", "s1", -1, 0, "dc_ds", std::nan(""), {}}});
  store.put_metric_values(run, {{"vanilla", "s1", 0, 0, "dreamsim", 0.5, {}}});
  const auto values = store.metric_values(run);
  ASSERT_EQ(values.size(), 2u);
  EXPECT_DOUBLE_EQ(values[0].value, 0.5);
  EXPECT_TRUE(std::isnan(values[1].value));
  EXPECT_EQ(store.metric_values(run, "dc_ds").size(), 1u);

  store.replace_metric_summaries(run, {{"vanilla", "dreamsim", "all", "", 10, 0.3, 0.1, 0.25, 0.35}});
  store.replace_metric_summaries(run, {{"vanilla", "dreamsim", "all", "", 12, 0.31, 0.1, 0.26, 0.36}});
  store.replace_metric_summaries(run, {{"vanilla", "dreamsim", "all", "", 12, 0.31, 0.1, 0.26, 0.36},
                                       {"vanilla", "dreamsim", "category", "fable", 2, 0.3, 0.1, 0.2, 0.4}});
  store.replace_metric_summaries(run, {{"vanilla", "dreamsim", "all", "", 12, 0.31, 0.1, 0.26, 0.36}});
  const auto summaries = store.metric_summaries(run);
  ASSERT_EQ(summaries.size(), 1u);  // the category row of the earlier evaluation is gone
  EXPECT_EQ(summaries[0].n, 12);
  EXPECT_DOUBLE_EQ(summaries[0].ci_high, 0.36);
}

TEST_P(StoreTest, EmbeddingCacheRoundTrip) {
  Store store = Store::open(location("s.sqlite"));
  store.put_embeddings({{"aa", {1.0f, 2.0f, 3.0f}}, {"bb", {-1.0f}}}, "dreamsim-tiny", "v1");
  const auto found = store.get_embeddings({"aa", "cc", "bb"}, "dreamsim-tiny", "v1");
  ASSERT_EQ(found.size(), 3u);
  ASSERT_TRUE(found[0]);
  EXPECT_EQ(*found[0], (std::vector<float>{1.0f, 2.0f, 3.0f}));
  EXPECT_FALSE(found[1]);
  EXPECT_EQ(*found[2], std::vector<float>{-1.0f});
  EXPECT_FALSE(store.get_embeddings({"aa"}, "dreamsim-tiny", "v2")[0]);  // other preprocessing
}

TEST_P(StoreTest, FileDigestsFollowTheBytesAndAreMemoisedBySizeAndTime) {
  const std::string where = location("s.sqlite");
  Store store = Store::open(where);
  const fs::path file = dir_ / "weights.safetensors";
  const auto write = [&](const std::string& bytes) {
    std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes;
  };
  write("abc");
  const std::string abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";  // FIPS 180-2
  EXPECT_EQ(store.file_sha256(file), abc);
  // Same size and modification time: the memo answers without reading the file (what
  // keeps a second evaluation from rehashing gigabytes of weights).
  const auto stamp = fs::last_write_time(file);
  write("abd");
  fs::last_write_time(file, stamp);
  EXPECT_EQ(store.file_sha256(file), abc);
  // A rewrite that moves the time (as every real rewrite does) is hashed again, and the
  // memo is the store's: a second connection sees it.
  fs::last_write_time(file, stamp + std::chrono::seconds(5));
  Store other = Store::open(again(where));
  EXPECT_EQ(other.file_sha256(file), core::sha256_hex("abd"));
  EXPECT_EQ(store.file_sha256(file), core::sha256_hex("abd"));
  EXPECT_THROW(store.file_sha256(dir_ / "absent.safetensors"), core::InputError);
  EXPECT_THROW(store.file_sha256(dir_), core::InputError);  // a folder is not a weights file
}

TEST_P(StoreTest, DirectorCallStoreRoundTripsThroughItsOwnConnection) {
  const std::string path = location("s.sqlite");
  Store store = Store::open(path);
  const RunId run = store.create_run(new_run());
  SqliteCallStore calls(path, run);
  director::RecordedCall call;
  call.backend = "local";
  call.model = "m";
  call.request_hash = "abc";
  call.request = {{"messages", nlohmann::json::array()}};
  call.response = "{}";
  call.tokens_in = 10;
  call.tokens_out = 20;
  call.latency_ms = 12.5;
  call.template_hash = "t";
  call.status = "valid";
  calls.record(call);
  call.response = "{\"fixed\":true}";
  calls.record(call);  // same hash replaces
  EXPECT_EQ(store.director_call_count(), 1u);
  const auto found = store.find_director_call("abc");
  ASSERT_TRUE(found);
  EXPECT_EQ(found->response, "{\"fixed\":true}");
  EXPECT_EQ(found->tokens_out, 20);
  EXPECT_FALSE(calls.find("nope"));
  const auto shared = store.open_call_store(run);  // the same table through the Store's own location
  ASSERT_TRUE(shared->find("abc"));
  EXPECT_EQ(shared->find("abc")->tokens_in, 10);
}

TEST_P(StoreTest, BenchmarksAndStageTimings) {
  Store store = Store::open(location("s.sqlite"));
  const RunId run = store.create_run(new_run());
  BenchmarkResult result;
  result.suite = "kernels";
  result.name = "BM_mmsa_grouped/S:4";
  result.params = {{"S", 4}};
  result.real_time = 5.0e8;
  result.counters = {{"gflops", 12.5}};
  store.add_benchmark_results({result});
  result.run = run;
  store.add_benchmark_results({result});
  EXPECT_EQ(store.benchmark_results().size(), 2u);
  EXPECT_EQ(store.benchmark_results(run).size(), 1u);
  EXPECT_EQ(store.benchmark_results(std::nullopt, "kernels")[0].counters["gflops"], 12.5);

  store.add_stage_timings(run, {{"scene", "vanilla", 1.5, "w1"}, {"scene", "vanilla", 2.0, "w2"}});
  store.add_stage_timings(run, {{"scene", "vanilla", 0.5, "w1"}});
  const auto timings = store.stage_timings(run);
  ASSERT_EQ(timings.size(), 1u);
  EXPECT_DOUBLE_EQ(timings[0].seconds, 4.0);
}

TEST_P(StoreTest, MergingShardsEqualsOneRunAndIsIdempotent) {
  std::map<std::string, std::string> places;
  auto place = [&](const std::string& name) -> const std::string& {
    if (!places.count(name)) places[name] = location(name);
    return places[name];
  };
  auto shard = [&](const std::string& name, const std::string& story) {
    Store store = Store::open(place(name));
    const RunId run = store.create_run(new_run());
    store.add_items(run, plan());
    while (auto item = store.claim_next_item(run, {"w", 60.0, {"vanilla/" + story + "/seed-0"}})) {
      store.complete_item(item->id, {{"by", name}}, 1.0,
                          {{item->key.kind, "image", item->key.story + std::to_string(item->key.index) + ".png",
                            std::string(64, 'f'), 10}});
    }
    store.put_metric_values(run, {{"vanilla", story, 0, 0, "dreamsim", 0.1, {}}});
    store.add_stage_timings(run, {{"scene", "vanilla", 1.0, name}});
    return run;
  };
  const RunId a = shard("a.sqlite", "s1");
  const RunId b = shard("b.sqlite", "s2");
  Store merged = Store::open(place("all.sqlite"));
  const Store store_a = Store::open(place("a.sqlite"));
  const Store store_b = Store::open(place("b.sqlite"));
  const RunId target = merged.merge_run_from(store_a, a);
  EXPECT_EQ(merged.get_run(target).status, "interrupted");  // s2's items are still pending
  EXPECT_EQ(merged.merge_run_from(store_b, b), target);
  EXPECT_EQ(merged.get_run(target).status, "finished");
  EXPECT_EQ(merged.list_items(target, "done").size(), 10u);
  EXPECT_EQ(merged.artifacts_of_run(target).size(), 10u);
  EXPECT_EQ(merged.metric_values(target).size(), 2u);
  ASSERT_EQ(merged.stage_timings(target).size(), 1u);
  EXPECT_DOUBLE_EQ(merged.stage_timings(target)[0].seconds, 2.0);

  // Again: nothing changes.
  EXPECT_EQ(merged.merge_run_from(store_a, a), target);
  EXPECT_EQ(merged.merge_run_from(store_b, b), target);
  EXPECT_EQ(merged.list_runs().size(), 1u);
  EXPECT_EQ(merged.list_items(target).size(), 10u);
  EXPECT_EQ(merged.artifacts_of_run(target).size(), 10u);
  EXPECT_DOUBLE_EQ(merged.stage_timings(target)[0].seconds, 2.0);
}

}  // namespace
}  // namespace dsbench::store
