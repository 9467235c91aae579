// Pillow-exact bicubic resize against Pillow's output on real Debian images
// (scripts/fixtures/make_dreamsim_fixtures.py; sources read by path, skipped if absent).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "core/image.h"
#include "metrics/resize.h"

namespace dsbench::metrics {
namespace {

const std::filesystem::path kFixtures = std::filesystem::path(DSBENCH_SOURCE_DIR) / "tests/fixtures/metrics";

TEST(PillowResize, MatchesPillowOnRealImagesWithin1e3PerPixel) {
  std::ifstream in(kFixtures / "resize_sources.json");
  const auto sources = nlohmann::json::parse(in);
  int compared = 0;
  for (const auto& [name, source] : sources.items()) {
    const std::filesystem::path path = source.get<std::string>();
    if (!std::filesystem::exists(path) || !std::filesystem::exists(kFixtures / ("resize_" + name + ".png"))) continue;
    const auto expected = core::read_image(kFixtures / ("resize_" + name + ".png"));
    const auto ours = resize_bicubic_pillow(to_rgb(core::read_image(path)), 224, 224);
    ASSERT_EQ(ours.width, 224);
    ASSERT_EQ(ours.channels, 3);
    double worst = 0.0;
    for (std::size_t i = 0; i < ours.pixels.size(); ++i) {
      worst = std::max(worst, std::abs(ours.pixels[i] - expected.pixels[i]) / 255.0);
    }
    EXPECT_LT(worst, 1e-3) << name;
    ++compared;
  }
  if (compared == 0) GTEST_SKIP() << "no real source image installed";
}

TEST(PillowResize, IdentitySizeKeepsPixelsAndConstantStaysConstant) {
  core::Image image(7, 5, 3);
  for (std::size_t i = 0; i < image.pixels.size(); ++i) image.pixels[i] = static_cast<std::uint8_t>(i * 37);
  EXPECT_EQ(resize_bicubic_pillow(image, 7, 5), image);
  core::Image flat(9, 4, 3);
  std::fill(flat.pixels.begin(), flat.pixels.end(), 77);
  const auto resized = resize_bicubic_pillow(flat, 224, 224);
  for (const auto value : resized.pixels) ASSERT_EQ(value, 77);
}

TEST(PillowResize, RgbConversionAndErrors) {
  core::Image gray(2, 1, 1);
  gray.pixels = {10, 20};
  const auto rgb = to_rgb(gray);
  EXPECT_EQ(rgb.pixels, (std::vector<std::uint8_t>{10, 10, 10, 20, 20, 20}));
  core::Image rgba(1, 1, 4);
  rgba.pixels = {1, 2, 3, 0};
  EXPECT_EQ(to_rgb(rgba).pixels, (std::vector<std::uint8_t>{1, 2, 3}));
  EXPECT_THROW(resize_bicubic_pillow(core::Image{}, 4, 4), std::invalid_argument);
  EXPECT_THROW(resize_bicubic_pillow(rgb, 0, 4), std::invalid_argument);
}

}  // namespace
}  // namespace dsbench::metrics
