#include "metrics/crops.h"

#include <algorithm>
#include <stdexcept>

namespace dsbench::metrics {

std::optional<Box> box_from_mask(const core::Image& mask) {
  if (mask.channels != 1) throw std::invalid_argument("subject mask must have 1 channel");
  Box box{mask.width, mask.height, 0, 0};
  bool any = false;
  for (int y = 0; y < mask.height; ++y)
    for (int x = 0; x < mask.width; ++x)
      if (mask.at(y, x, 0) > 0) {
        any = true;
        box = {std::min(box.x0, x), std::min(box.y0, y), std::max(box.x1, x + 1),
               std::max(box.y1, y + 1)};
      }
  if (!any) return std::nullopt;
  return box;
}

core::Image white_padded_square_crop(const core::Image& image, const Box& box) {
  const Box clipped{std::max(box.x0, 0), std::max(box.y0, 0), std::min(box.x1, image.width),
                    std::min(box.y1, image.height)};
  if (clipped.width() <= 0 || clipped.height() <= 0)
    throw std::invalid_argument("crop box is empty inside the image");
  const int side = std::max(clipped.width(), clipped.height());
  core::Image square(side, side, image.channels);
  std::fill(square.pixels.begin(), square.pixels.end(), std::uint8_t{255});
  const int offset_x = (side - clipped.width()) / 2;
  const int offset_y = (side - clipped.height()) / 2;
  for (int y = 0; y < clipped.height(); ++y)
    for (int x = 0; x < clipped.width(); ++x)
      for (int c = 0; c < image.channels; ++c)
        square.at(offset_y + y, offset_x + x, c) = image.at(clipped.y0 + y, clipped.x0 + x, c);
  return square;
}

}  // namespace dsbench::metrics
