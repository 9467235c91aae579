#include <gtest/gtest.h>

#include <csignal>
#include <sstream>

#include "harness/executor/executor.h"
#include "harness/executor/progress.h"
#include "harness/executor/stop.h"

namespace dsbench::executor {
namespace {

TEST(Progress, DurationsReadNaturally) {
  EXPECT_EQ(format_duration(0), "0s");
  EXPECT_EQ(format_duration(52.4), "52s");
  EXPECT_EQ(format_duration(187), "3m07s");
  EXPECT_EQ(format_duration(7500), "2h05m");
  EXPECT_EQ(format_duration(-1), "?");
}

TEST(Progress, LineShowsCountsRateAndEta) {
  ProgressState state{12, 1, 40, 0.5, 56};
  EXPECT_EQ(format_line(state), "progress: 12/40 items (30.0%), 1 failed, 0.50 items/s, ETA 56s");
  state.rate = 0;
  state.eta_seconds = -1;
  EXPECT_EQ(format_line(state), "progress: 12/40 items (30.0%), 1 failed, -- items/s, ETA ?");
}

TEST(Progress, BarFillsInProportionAndFitsTheWidth) {
  const ProgressState half{20, 0, 40, 2.0, 10};
  const std::string bar = format_bar(half, 80);
  EXPECT_LE(bar.size(), 80u);
  const auto open = bar.find('['), close = bar.find(']');
  const std::string inside = bar.substr(open + 1, close - open - 1);
  EXPECT_EQ(std::count(inside.begin(), inside.end(), '#'), static_cast<long>(inside.size() / 2));
  EXPECT_NE(bar.find("20/40 items"), std::string::npos);
  EXPECT_NE(bar.find("ETA 10s"), std::string::npos);
  EXPECT_EQ(bar.find("failed"), std::string::npos);
  const ProgressState full{40, 2, 40, 2.0, 0};
  const std::string done = format_bar(full, 80);
  EXPECT_EQ(done.find('.'), done.find("2.00") + 1);  // no empty cells before the rate
  EXPECT_NE(done.find("2 failed"), std::string::npos);
}

TEST(Progress, PlainLinesComeEveryIntervalWithRateFromThisProcess) {
  double now = 100.0;
  std::ostringstream out;
  Progress progress(out, /*terminal=*/false, /*interval=*/10.0, /*total=*/10, /*done=*/4, /*failed=*/0,
                    [&] { return now; });
  now = 101.0;
  progress.item_finished(true);  // first line: printed at once
  now = 102.0;
  progress.item_finished(false);  // within the interval: silent
  EXPECT_EQ(out.str(), "progress: 5/10 items (50.0%), 0 failed, 1.00 items/s, ETA 5s\n");
  now = 112.0;
  progress.item_finished(true);
  const ProgressState state = progress.state();
  EXPECT_EQ(state.done, 7u);
  EXPECT_EQ(state.failed, 1u);
  EXPECT_DOUBLE_EQ(state.rate, 3.0 / 12.0);
  EXPECT_DOUBLE_EQ(state.eta_seconds, 3.0 / 0.25);
  EXPECT_NE(out.str().find("progress: 7/10 items (70.0%), 1 failed, 0.25 items/s, ETA 12s\n"), std::string::npos);
  // The final line repeats nothing already said.
  const std::string before = out.str();
  now = 130.0;
  progress.finish();
  EXPECT_EQ(out.str(), before);
  progress.set_counts(8, 1);
  progress.finish();
  EXPECT_NE(out.str().find("progress: 8/10 items (80.0%)"), std::string::npos);
}

TEST(Progress, TerminalBarIsRedrawnInPlace) {
  double now = 0.0;
  std::ostringstream out;
  Progress progress(out, /*terminal=*/true, 10.0, 2, 0, 0, [&] { return now; });
  now = 1.0;
  progress.item_finished(true);
  now = 2.0;
  progress.item_finished(true);
  progress.finish();
  const std::string text = out.str();
  EXPECT_EQ(text.front(), '\r');
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1);
  EXPECT_EQ(text.back(), '\n');
  EXPECT_NE(text.find("2/2 items"), std::string::npos);
}

TEST(Paths, ImagesLiveUnderSystemStorySeed) {
  const planning::ItemKey portrait{"dreamstory", "hansel-and-gretel", planning::ItemKind::kPortrait, 1, 7};
  EXPECT_EQ(item_image_path(portrait, "Gretel").string(), "dreamstory/hansel-and-gretel/seed-7/portrait_Gretel.png");
  EXPECT_EQ(side_image_path(portrait, "Gretel", "mask").string(),
            "dreamstory/hansel-and-gretel/seed-7/portrait_Gretel.mask.png");
  const planning::ItemKey scene{"vanilla", "s", planning::ItemKind::kScene, 3, 0};
  EXPECT_EQ(item_image_path(scene, "").string(), "vanilla/s/seed-0/scene_03.png");
  EXPECT_EQ(side_image_path(scene, "", "target_mask_00").string(), "vanilla/s/seed-0/scene_03.target_mask_00.png");
}

TEST(Paths, NamesAreMadeSafe) {
  EXPECT_EQ(safe_file_name("Mr. Fox/../x y"), "Mr._Fox_.._x_y");
  EXPECT_EQ(safe_file_name(".."), "_..");
  EXPECT_EQ(safe_file_name(""), "_");
  const planning::ItemKey key{"a/b", "../c", planning::ItemKind::kScene, 0, 0};
  for (const auto& part : item_image_path(key, "")) EXPECT_NE(part.string(), "..");
}

TEST(StopSignals, SigintAndSigtermOnlySetTheFlag) {
  StopSignals::reset();
  {
    const StopSignals signals;
    EXPECT_FALSE(StopSignals::requested());
    std::raise(SIGTERM);
    EXPECT_TRUE(StopSignals::requested());
    EXPECT_EQ(StopSignals::signal_number(), SIGTERM);
  }
  StopSignals::reset();
  EXPECT_FALSE(StopSignals::requested());
}

}  // namespace
}  // namespace dsbench::executor
