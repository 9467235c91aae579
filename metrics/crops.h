#pragma once
// Subject crops for D&C: a box from a binary mask, and the box's pixels padded to a
// square centred on white (MuDI pads on white before DreamSim preprocessing).
#include <optional>

#include "core/image.h"

namespace dsbench::metrics {

struct Box {  // half-open pixel box [x0, x1) x [y0, y1)
  int x0 = 0, y0 = 0, x1 = 0, y1 = 0;
  int width() const { return x1 - x0; }
  int height() const { return y1 - y0; }
  bool operator==(const Box&) const = default;
};

// Bounding box of the pixels > 0 in a 1-channel mask; nullopt when the mask is empty
// (the subject was not detected).
std::optional<Box> box_from_mask(const core::Image& mask);

// The box's pixels (clipped to the image) centred in a white square of side
// max(width, height). Throws std::invalid_argument for an empty box.
core::Image white_padded_square_crop(const core::Image& image, const Box& box);

}  // namespace dsbench::metrics
