#include "metrics/resize.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <vector>

namespace dsbench::metrics {
namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;  // Pillow's 8-bit-per-channel fixed point

double bicubic(double x) {
  constexpr double a = -0.5;
  x = std::abs(x);
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
  if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
  return 0.0;
}

// For each output position: the first input index and fixed-point weights.
struct Taps {
  std::vector<int> first;
  std::vector<std::vector<std::int32_t>> weights;
};

Taps precompute_taps(int in_size, int out_size) {
  const double scale = static_cast<double>(in_size) / out_size;
  const double filter_scale = std::max(scale, 1.0);
  const double support = 2.0 * filter_scale;
  Taps taps;
  taps.first.resize(out_size);
  taps.weights.resize(out_size);
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = (xx + 0.5) * scale;
    const int xmin = std::max(static_cast<int>(center - support + 0.5), 0);
    const int xmax = std::min(static_cast<int>(center + support + 0.5), in_size) - xmin;
    std::vector<double> k(static_cast<std::size_t>(std::max(xmax, 0)));
    double total = 0.0;
    for (int x = 0; x < xmax; ++x) {
      k[x] = bicubic((x + xmin - center + 0.5) / filter_scale);
      total += k[x];
    }
    auto& fixed = taps.weights[xx];
    fixed.resize(k.size());
    for (std::size_t x = 0; x < k.size(); ++x) {
      const double w = total != 0.0 ? k[x] / total : k[x];
      const double scaled = w * (1 << kPrecisionBits);
      fixed[x] = static_cast<std::int32_t>(w < 0 ? -0.5 + scaled : 0.5 + scaled);
    }
    taps.first[xx] = xmin;
  }
  return taps;
}

std::uint8_t clip8(std::int64_t value) {
  const std::int64_t shifted = value >> kPrecisionBits;
  return static_cast<std::uint8_t>(std::clamp<std::int64_t>(shifted, 0, 255));
}

// One separable pass along x (horizontal) or y, rounding to uint8 like Pillow.
core::Image resample_pass(const core::Image& in, int out_size, bool horizontal) {
  const int in_size = horizontal ? in.width : in.height;
  const Taps taps = precompute_taps(in_size, out_size);
  core::Image out(horizontal ? out_size : in.width, horizontal ? in.height : out_size, in.channels);
  for (int y = 0; y < out.height; ++y) {
    for (int x = 0; x < out.width; ++x) {
      const int o = horizontal ? x : y;
      for (int c = 0; c < in.channels; ++c) {
        std::int64_t sum = 1 << (kPrecisionBits - 1);
        const auto& w = taps.weights[o];
        for (std::size_t t = 0; t < w.size(); ++t) {
          const int i = taps.first[o] + static_cast<int>(t);
          sum += static_cast<std::int64_t>(horizontal ? in.at(y, i, c) : in.at(i, x, c)) * w[t];
        }
        out.at(y, x, c) = clip8(sum);
      }
    }
  }
  return out;
}

}  // namespace

core::Image to_rgb(const core::Image& image) {
  if (image.channels == 3) return image;
  if (image.channels != 1 && image.channels != 4) throw std::invalid_argument("image must have 1, 3 or 4 channels");
  core::Image rgb(image.width, image.height, 3);
  for (int y = 0; y < image.height; ++y) {
    for (int x = 0; x < image.width; ++x) {
      for (int c = 0; c < 3; ++c) rgb.at(y, x, c) = image.at(y, x, image.channels == 1 ? 0 : c);
    }
  }
  return rgb;
}

core::Image resize_bicubic_pillow(const core::Image& rgb, int width, int height) {
  if (rgb.empty() || width <= 0 || height <= 0) throw std::invalid_argument("resize of an empty image or to an empty size");
  core::Image result = rgb;
  if (result.width != width) result = resample_pass(result, width, true);
  if (result.height != height) result = resample_pass(result, height, false);
  return result;
}

}  // namespace dsbench::metrics
