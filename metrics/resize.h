#pragma once
// DreamSim's preprocessing resizes PIL images with torchvision's Resize((224, 224), BICUBIC),
// i.e. Pillow's antialiased bicubic resampling (a = -0.5, support scaled by the reduction
// factor, 8-bit fixed-point passes: horizontal then vertical, each rounded to uint8).
// This reproduces Pillow bit for bit so the metric sees the same pixels as the official
// Python code; OpenCV's INTER_CUBIC (a = -0.75, no antialiasing) does not.
#include "core/image.h"

namespace dsbench::metrics {

// RGB copy of an image: gray is replicated, alpha is dropped (Pillow's convert("RGB")).
core::Image to_rgb(const core::Image& image);

// Pillow-exact bicubic resize of an RGB image to width x height (aspect not kept).
// Throws std::invalid_argument for an empty image or a non-positive size.
core::Image resize_bicubic_pillow(const core::Image& rgb, int width, int height);

}  // namespace dsbench::metrics
