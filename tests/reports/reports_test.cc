// Reports and comparison on synthetic stores: SVG structure, the values in the JSON and
// Markdown summaries, the HTML sections and copied images, the regression gate (library
// and `dsbench compare` exit codes) and the page rendered by a real headless Chromium.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <regex>
#include <set>

#include "core/image.h"
#include "harness/config/config.h"
#include "harness/store/store.h"
#include "reports/compare.h"
#include "reports/report.h"
#include "reports/svg.h"
#include "tests/support/run_command.h"

namespace dsbench::reports {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

using dsbench::testing::run_command;

class ReportsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("dsbench_reports_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "data");
    std::ofstream(dir_ / "run.yaml") << "dataset: {root: data}\nsystems: [{type: vanilla}, {name: ds, type: dreamstory}]\n"
                                        "compare:\n  thresholds:\n    - {metric: dnc_ds, abs_tol: 0.02}\n"
                                        "    - {metric: detection_rate, direction: higher_is_better, abs_tol: 0.05}\n";
    config_ = harness::load_config(dir_ / "run.yaml");
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);
  }

  // A finished run: 2 systems x 3 stories x (1 portrait + 2 scenes), real PNGs, metric
  // values per scene (dnc_ds = base + shift for system ds), summaries, timings, kernels.
  store::RunId make_run(store::Store& store, double shift, double detection, double scene_seconds) {
    const fs::path out = dir_ / ("out" + std::to_string(++runs_));
    const auto run = store.create_run({"synthetic", config_.resolved.dump(), config_.hash, "test", "host", out.string()});
    std::vector<store::NewItem> items;
    for (const std::string system : {"vanilla", "ds"}) {
      for (const std::string story : {"s1", "s2", "s3"}) {
        const std::string group = system + "/" + story + "/seed-0";
        items.push_back({{system, story, "portrait", 0, 0}, group, 1.0, "Gretel"});
        for (int scene = 0; scene < 2; ++scene) items.push_back({{system, story, "scene", scene, 0}, group, 1.0, "scene"});
      }
    }
    store.add_items(run, items);
    std::vector<store::MetricValue> values;
    while (auto item = store.claim_next_item(run, {"w", 60.0, {}})) {
      core::Image image(16, 16, 3);
      for (std::size_t i = 0; i < image.pixels.size(); ++i) {
        image.pixels[i] = static_cast<std::uint8_t>((static_cast<std::int64_t>(i) * 7 + item->id * 31) % 256);
      }
      const std::string relative = item->key.system + "/" + item->key.story + "/" + item->key.kind +
                                   std::to_string(item->key.index) + ".png";
      core::write_png_atomic(out / relative, image);
      const auto bytes = static_cast<std::int64_t>(fs::file_size(out / relative));
      std::vector<store::ArtifactRecord> artifacts{{item->key.kind, "image", relative, std::string(64, 'a'), bytes}};
      if (item->key.kind == "scene" && item->key.system == "ds") {  // DreamStory stores its subject masks
        const std::string mask = relative + ".target_mask_00.png";
        core::write_png_atomic(out / mask, core::Image(16, 16, 1));
        artifacts.push_back({"mask", "target_mask_00", mask, std::string(64, 'b'),
                             static_cast<std::int64_t>(fs::file_size(out / mask))});
      }
      store.complete_item(item->id, {}, 0.1, artifacts);
      if (item->key.kind == "scene") {
        const double base = 0.30 + 0.01 * item->key.index + 0.02 * (item->key.story.back() - '0');
        values.push_back({item->key.system, item->key.story, item->key.index, 0, "dnc_ds",
                          base + (item->key.system == "ds" ? shift : 0.0), {}});
        values.push_back({item->key.system, item->key.story, item->key.index, 0, "detection_rate",
                          item->key.system == "ds" ? detection : 1.0, {}});
      }
    }
    store.put_metric_values(run, values);
    store.replace_metric_summaries(run, {{"vanilla", "dnc_ds", "all", "", 3, 0.35, 0.02, 0.33, 0.37},
                                         {"ds", "dnc_ds", "all", "", 3, 0.35 + shift, 0.02, 0.33 + shift, 0.37 + shift},
                                         {"ds", "dnc_ds", "subjects", "1", 2, 0.34, 0.01, 0.33, 0.35},
                                         {"ds", "dnc_ds", "subjects", "3", 1, 0.38, 0.0, 0.38, 0.38}});
    store.add_stage_timings(run, {{"scene", "ds", scene_seconds * load_, "w"}, {"scene", "vanilla", 5.0 * load_, "w"}});
    store::BenchmarkResult kernel;
    kernel.run = run;
    kernel.suite = "kernels";
    for (const int s : {1, 4, 16}) {
      kernel.name = "BM_mmsa_grouped/S:" + std::to_string(s) + "/h:64/w:64";
      kernel.real_time = 1e8 * s;
      store.add_benchmark_results({kernel});
    }
    store.set_run_status(run, "finished");
    return run;
  }

  fs::path dir_;
  harness::RunConfig config_;
  int runs_ = 0;
  double load_ = 1.0;  // how busy the machine was: scales every stage time of a run
};

TEST(Svg, BarChartHasABarAndAWhiskerPerSystemAndEscapesLabels) {
  svg::BarChart chart{"dnc_ds per system", "distance", {{"a<b", 0.3, 0.25, 0.35}, {"c", 0.5, 0.5, 0.5}}};
  const std::string text = svg::render(chart);
  EXPECT_EQ(count(text, "class=\"bar\""), 2u);
  EXPECT_EQ(count(text, "class=\"ci\""), 1u);  // a zero-width CI draws no whisker
  EXPECT_THAT(text, HasSubstr("a&lt;b"));
  EXPECT_THAT(text, HasSubstr(">distance<"));
}

TEST(Svg, LineChartHasASeriesAndALegendPerLine) {
  svg::LineChart chart{"t", "subjects S", "ms", true, {{"dense", {{1, 10}, {4, 100}}}, {"grouped", {{1, 5}, {4, 9}}}}};
  const std::string text = svg::render(chart);
  EXPECT_EQ(count(text, "class=\"series\""), 2u);
  EXPECT_EQ(count(text, "class=\"legend\""), 2u);
  EXPECT_EQ(count(text, "<circle"), 4u);
  EXPECT_THAT(text, HasSubstr(">subjects S<"));
}

TEST_F(ReportsTest, CompareFlagsAnInjectedRegressionAndNamesTheMetric) {
  store::Store store = store::Store::open(dir_ / "s.sqlite");
  const auto baseline = make_run(store, 0.0, 1.0, 10.0);
  const auto same = make_run(store, 0.0, 1.0, 10.5);
  const auto worse = make_run(store, -0.10, 0.5, 10.0);  // D&C-DS: higher is better
  const auto better = make_run(store, 0.10, 1.0, 10.0);

  // The threshold gives no direction: the catalogue's (higher is better) applies.
  EXPECT_FALSE(compare_runs(store, baseline, store, better, config_.compare).regression());
  const auto clean = compare_runs(store, baseline, store, same, config_.compare);
  EXPECT_FALSE(clean.regression()) << format_comparison(clean);
  ASSERT_FALSE(clean.metrics.empty());
  for (const auto& m : clean.metrics) EXPECT_DOUBLE_EQ(m.delta, 0.0);

  const auto bad = compare_runs(store, baseline, store, worse, config_.compare);
  EXPECT_TRUE(bad.regression());
  const auto names = bad.regressed_names();
  EXPECT_THAT(names, ::testing::UnorderedElementsAre("ds/dnc_ds", "ds/detection_rate"));
  for (const auto& m : bad.metrics) {
    if (m.system == "ds" && m.metric == "dnc_ds") {
      EXPECT_EQ(m.pairs, 6u);
      EXPECT_NEAR(m.delta, -0.10, 1e-12);  // every pair moved by exactly -0.10
      EXPECT_NEAR(m.ci_high, -0.10, 1e-12);
      EXPECT_NEAR(m.candidate_mean - m.baseline_mean, -0.10, 1e-12);
    }
    if (m.system == "vanilla") EXPECT_FALSE(m.regression);
  }
  EXPECT_THAT(format_comparison(bad), HasSubstr("REGRESSION in 2: ds/detection_rate ds/dnc_ds"));
  EXPECT_EQ(comparison_json(bad)["regression"], true);
}

TEST_F(ReportsTest, SlowerStagesAndKernelsBeyondTheToleranceAreFlagged) {
  store::Store store = store::Store::open(dir_ / "s.sqlite");
  const auto baseline = make_run(store, 0.0, 1.0, 10.0);
  const auto slower = make_run(store, 0.0, 1.0, 20.0);
  const auto result = compare_runs(store, baseline, store, slower, config_.compare);
  EXPECT_THAT(result.regressed_names(), ::testing::ElementsAre("stage scene/ds (vs vanilla)"));
  for (const auto& r : result.ratios) {
    if (r.kind == "stage") EXPECT_DOUBLE_EQ(r.ratio, 2.0);
    if (r.kind == "stage (raw)") EXPECT_FALSE(r.regression);  // vanilla itself is the yardstick
    if (r.kind == "benchmark") EXPECT_DOUBLE_EQ(r.ratio, 1.0);
  }
  // A busier machine slows every system alike: no regression.
  load_ = 3.0;
  const auto busy = make_run(store, 0.0, 1.0, 10.0);
  const auto loaded = compare_runs(store, baseline, store, busy, config_.compare);
  EXPECT_FALSE(loaded.regression()) << format_comparison(loaded);
}

TEST_F(ReportsTest, ReportWritesHtmlMarkdownAndJsonWithTheRunsValues) {
  store::Store store = store::Store::open(dir_ / "s.sqlite");
  const auto run = make_run(store, 0.05, 1.0, 3.0);
  const auto model = build_report_model(store, run, {{}, 2});
  EXPECT_EQ(model.items.total, 18);
  EXPECT_EQ(model.items.done, 18);
  ASSERT_EQ(model.strips.size(), 2u);
  EXPECT_EQ(model.strips[0].rows.size(), 2u);
  EXPECT_EQ(model.strips[0].rows[0].scenes.size(), 2u);
  const auto files = write_report(model, dir_ / "report");
  EXPECT_EQ(files.images, 16u);  // 2 stories x 2 systems x 3 images + ds's 2 scene masks per story
  const auto json = nlohmann::json::parse(std::ifstream(files.json));
  EXPECT_EQ(json["items"]["done"], 18);
  bool found = false;
  for (const auto& row : json["summaries"]) {
    if (row["system"] == "ds" && row["metric"] == "dnc_ds" && row["group_kind"] == "all") {
      EXPECT_NEAR(row["mean"].get<double>(), 0.40, 1e-12);
      found = true;
    }
  }
  EXPECT_TRUE(found);
  std::ifstream markdown(files.markdown);
  const std::string md{std::istreambuf_iterator<char>(markdown), {}};
  EXPECT_THAT(md, HasSubstr("| ds | dnc_ds | 3 | 0.4000 | [0.3800, 0.4200] |"));
  std::ifstream page(files.html);
  const std::string html{std::istreambuf_iterator<char>(page), {}};
  for (const char* id : {"summary", "metrics", "plots", "strips", "timings"}) {
    EXPECT_THAT(html, HasSubstr(std::string("id=\"") + id + "\"")) << id;
  }
  EXPECT_EQ(count(html, "<img src=\"images/"), 12u);
  EXPECT_EQ(count(html, "<img class=\"mask\""), 4u);
  EXPECT_THAT(html, HasSubstr("vs number of subjects"));
  EXPECT_THAT(html, HasSubstr("Attention kernels vs number of subjects"));
  EXPECT_EQ(html.find("http://") == std::string::npos || html.find("http://www.w3.org/2000/svg") != std::string::npos,
            true);
  EXPECT_EQ(html.find("https://"), std::string::npos);  // nothing fetched from the network
  EXPECT_TRUE(fs::exists(dir_ / "report" / "images" / "ds" / "s1" / "scene1.png"));
}

TEST_F(ReportsTest, ChromiumRendersThePageWithoutConsoleErrors) {
  const char* chromium = "/usr/bin/chromium";
  if (!fs::exists(chromium)) GTEST_SKIP() << "chromium is not installed";
  store::Store store = store::Store::open(dir_ / "s.sqlite");
  const auto run = make_run(store, 0.05, 1.0, 3.0);
  const auto files = write_report(build_report_model(store, run), dir_ / "report");
  const fs::path shot = dir_ / "report.png";
  const std::string common = std::string("timeout 60 ") + chromium +
                             " --headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run "
                             "--user-data-dir='" + (dir_ / "profile").string() + "' --enable-logging=stderr --v=0 ";
  const auto render = run_command(common + "--window-size=1280,2400 --screenshot='" + shot.string() + "' 'file://" +
                            files.html.string() + "'");
  ASSERT_TRUE(fs::exists(shot)) << render.output;
  EXPECT_GT(fs::file_size(shot), 20000u) << "the screenshot is nearly empty";
  const core::Image image = core::read_image(shot);
  EXPECT_EQ(image.width, 1280);
  // The page drew more than a blank background: count distinct colours in a sample.
  std::set<std::uint32_t> colours;
  for (std::size_t i = 0; i + 2 < image.pixels.size(); i += 97 * static_cast<std::size_t>(image.channels)) {
    const auto* p = image.pixels.data() + i;
    colours.insert((static_cast<std::uint32_t>(p[0]) << 16) | (static_cast<std::uint32_t>(p[1]) << 8) | p[2]);
  }
  EXPECT_GT(colours.size(), 20u);
  EXPECT_THAT(render.output, ::testing::Not(HasSubstr("Uncaught")));
  EXPECT_THAT(render.output, ::testing::Not(HasSubstr(":CONSOLE")));
  const auto dom = run_command(common + "--dump-dom 'file://" + files.html.string() + "'");
  for (const char* id : {"summary", "metrics", "plots", "strips"}) {
    EXPECT_THAT(dom.output, HasSubstr(std::string("id=\"") + id + "\"")) << id;
  }
  EXPECT_THAT(dom.output, HasSubstr("<svg"));
  // Keep the screenshot next to the build for a human look.
  fs::copy_file(shot, fs::path(DSBENCH_BINARY_DIR) / "report-screenshot.png", fs::copy_options::overwrite_existing);
}

TEST_F(ReportsTest, CompareCommandExitsThreeOnARegressionAndZeroOtherwise) {
  const fs::path binary = fs::path(DSBENCH_BINARY_DIR) / "dsbench";
  if (!fs::exists(binary)) GTEST_SKIP() << "dsbench is not built";
  const fs::path db = dir_ / "s.sqlite";
  store::RunId baseline = 0, same = 0, worse = 0;
  {
    store::Store store = store::Store::open(db);
    baseline = make_run(store, 0.0, 1.0, 10.0);
    same = make_run(store, 0.0, 1.0, 10.0);
    worse = make_run(store, -0.10, 1.0, 10.0);
  }
  const std::string base = "'" + binary.string() + "' compare --store '" + db.string() + "' ";
  const auto ok = run_command(base + std::to_string(baseline) + " " + std::to_string(same));
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_THAT(ok.output, HasSubstr("no regression"));
  const auto bad = run_command(base + std::to_string(baseline) + " " + std::to_string(worse));
  EXPECT_EQ(bad.exit_code, 3) << bad.output;
  EXPECT_THAT(bad.output, HasSubstr("REGRESSION in 1: ds/dnc_ds"));
  const auto report = run_command("'" + binary.string() + "' report " + std::to_string(worse) + " --store '" + db.string() +
                            "' --out '" + (dir_ / "r").string() + "'");
  EXPECT_EQ(report.exit_code, 0) << report.output;
  EXPECT_TRUE(fs::exists(dir_ / "r" / "index.html"));
  const auto missing = run_command(base + std::to_string(baseline) + " 99");
  EXPECT_EQ(missing.exit_code, 2) << missing.output;
}

}  // namespace
}  // namespace dsbench::reports
