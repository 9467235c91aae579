// dsbench runs / show [--verify] / merge end to end: output, exit codes and errors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "core/hashing.h"
#include "harness/store/store.h"
#include "tests/support/run_command.h"

namespace dsbench::store {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

using dsbench::testing::run_dsbench;

class StoreCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(dsbench::testing::dsbench_executable())) GTEST_SKIP() << "dsbench is not built";
    dir_ = fs::temp_directory_path() / ("dsbench_store_cli_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "out");
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A finished run with one item per story of `stories`, each with one artifact file.
  RunId make_run(const fs::path& path, const std::string& hash, const std::vector<std::string>& stories) {
    Store store = Store::open(path);
    const RunId run = store.create_run({"cli", "{\"name\":\"cli\"}", hash, "0.1", "host", (dir_ / "out").string()});
    std::vector<NewItem> items;
    for (const auto& story : stories) items.push_back({{"vanilla", story, "portrait", 0, 0}, "g-" + story, 1.0, "p"});
    store.add_items(run, items);
    while (auto item = store.claim_next_item(run, {"w", 60.0, {}})) {
      const std::string name = item->key.story + ".png";
      std::ofstream(dir_ / "out" / name) << "image bytes of " << item->key.story;
      store.complete_item(item->id, {}, 0.1,
                          {{"portrait", "image", name, core::sha256_file(dir_ / "out" / name),
                            static_cast<std::int64_t>(fs::file_size(dir_ / "out" / name))}});
    }
    store.set_run_status(run, "finished");
    return run;
  }

  fs::path dir_;
};

TEST_F(StoreCliTest, RunsListsRunsWithCounts) {
  const fs::path db = dir_ / "s.sqlite";
  make_run(db, "hash-1", {"a", "b"});
  const auto text = run_dsbench("runs --store '" + db.string() + "'");
  EXPECT_EQ(text.exit_code, 0) << text.output;
  EXPECT_THAT(text.output, HasSubstr("finished"));
  EXPECT_THAT(text.output, HasSubstr("2/2"));
  const auto json = run_dsbench("runs --json --store '" + db.string() + "'");
  const auto parsed = nlohmann::json::parse(json.output);
  ASSERT_EQ(parsed.size(), 1u);
  EXPECT_EQ(parsed[0]["done"], 2);
  EXPECT_EQ(parsed[0]["items"], 2);
  EXPECT_EQ(parsed[0]["failed"], 0);
  EXPECT_EQ(parsed[0]["config_hash"], "hash-1");
}

TEST_F(StoreCliTest, ShowVerifyCatchesAChangedAndAMissingArtifact) {
  const fs::path db = dir_ / "s.sqlite";
  const RunId run = make_run(db, "hash-1", {"a", "b", "c"});
  const auto ok = run_dsbench("show " + std::to_string(run) + " --verify --store '" + db.string() + "'");
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_THAT(ok.output, HasSubstr("3/3 artifacts match"));

  std::ofstream(dir_ / "out" / "a.png") << "image bytes of X";  // same size, other bytes
  fs::remove(dir_ / "out" / "c.png");
  const auto bad = run_dsbench("show " + std::to_string(run) + " --verify --store '" + db.string() + "'");
  EXPECT_EQ(bad.exit_code, 1) << bad.output;
  EXPECT_THAT(bad.output, HasSubstr("1/3 artifacts match"));
  EXPECT_THAT(bad.output, HasSubstr("a.png: sha256"));
  EXPECT_THAT(bad.output, HasSubstr("c.png: missing"));
}

TEST_F(StoreCliTest, ShowNamesAnUnknownRunAndABadId) {
  const fs::path db = dir_ / "s.sqlite";
  make_run(db, "hash-1", {"a"});
  const auto unknown = run_dsbench("show 42 --store '" + db.string() + "'");
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_THAT(unknown.output, HasSubstr("no run 42"));
  const auto bad = run_dsbench("show latest --store '" + db.string() + "'");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.output, HasSubstr("expected a run id"));
}

TEST_F(StoreCliTest, MergeCombinesShardsIdempotentlyAndRefusesOtherConfigs) {
  make_run(dir_ / "a.sqlite", "hash-1", {"a", "b"});
  make_run(dir_ / "b.sqlite", "hash-1", {"c"});
  const std::string merge = "merge '" + (dir_ / "a.sqlite").string() + "' '" + (dir_ / "b.sqlite").string() +
                            "' --into '" + (dir_ / "all.sqlite").string() + "'";
  const auto first = run_dsbench(merge);
  EXPECT_EQ(first.exit_code, 0) << first.output;
  EXPECT_THAT(first.output, HasSubstr("3/3 items done"));
  const auto second = run_dsbench(merge);
  EXPECT_EQ(second.exit_code, 0) << second.output;
  EXPECT_THAT(second.output, HasSubstr("3/3 items done"));
  {
    const Store all = Store::open(dir_ / "all.sqlite");
    EXPECT_EQ(all.list_runs().size(), 1u);
    EXPECT_EQ(all.artifacts_of_run(all.list_runs()[0].id).size(), 3u);
  }
  make_run(dir_ / "other.sqlite", "hash-2", {"z"});
  const auto refused = run_dsbench("merge '" + (dir_ / "a.sqlite").string() + "' '" + (dir_ / "other.sqlite").string() +
                                   "' --into '" + (dir_ / "x.sqlite").string() + "'");
  EXPECT_EQ(refused.exit_code, 2) << refused.output;
  EXPECT_THAT(refused.output, HasSubstr("different configs"));
  EXPECT_FALSE(fs::exists(dir_ / "x.sqlite"));  // nothing written
}

TEST_F(StoreCliTest, NotAStoreIsAClearError) {
  std::ofstream(dir_ / "notes.txt") << "hello, these are notes and not a database at all, padded to be long enough.";
  const auto result = run_dsbench("runs --store '" + (dir_ / "notes.txt").string() + "'");
  EXPECT_EQ(result.exit_code, 2) << result.output;
  EXPECT_THAT(result.output, HasSubstr("notes.txt"));
  EXPECT_THAT(result.output, HasSubstr("not a dsbench run store"));
}

}  // namespace
}  // namespace dsbench::store
