// The constructed images of the evaluation tests: uniform backgrounds and a striped
// 24x24 object pasted into them (with its mask when asked), so that crops of the same
// object in two scenes are pixel-identical and their distances can be derived by hand.
#pragma once

#include <algorithm>
#include <cstdint>

#include "core/image.h"

namespace dsbench::testing {

inline core::Image filled(int w, int h, int channels, std::uint8_t value) {
  core::Image image(w, h, channels);
  std::fill(image.pixels.begin(), image.pixels.end(), value);
  return image;
}

// Diagonal stripes in colours set by `tone`; the dark stripes start at `dark_base`
// (raise it to keep them more than a detector's tolerance away from a dark background).
inline core::Image striped_object(int tone, int dark_base = 0) {
  core::Image image(24, 24, 3);
  for (int y = 0; y < 24; ++y)
    for (int x = 0; x < 24; ++x)
      for (int c = 0; c < 3; ++c)
        image.at(y, x, c) = static_cast<std::uint8_t>(((x + y * (tone + 1)) / 4 % 2) ? 40 * c + tone + dark_base
                                                                                    : 250 - 60 * c);
  return image;
}

// Copies `piece` into `target` at (x0, y0); marks it 255 in `mask` when given.
inline void paste(core::Image& target, core::Image* mask, const core::Image& piece, int x0, int y0) {
  for (int y = 0; y < piece.height; ++y)
    for (int x = 0; x < piece.width; ++x) {
      for (int c = 0; c < 3; ++c) target.at(y0 + y, x0 + x, c) = piece.at(y, x, c);
      if (mask) mask->at(y0 + y, x0 + x, 0) = 255;
    }
}

}  // namespace dsbench::testing
