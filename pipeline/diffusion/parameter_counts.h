// Parameter counts computed from a configuration's shapes, without allocating anything:
// model info and planning can quote SDXL's 2.6 billion UNet parameters on a laptop. Tests
// check them against the built modules (and the published counts).
#pragma once

#include <cstdint>

#include "pipeline/diffusion/clip_text_model.h"
#include "pipeline/diffusion/unet.h"
#include "pipeline/diffusion/vae.h"

namespace dsbench::diffusion {

std::int64_t unet_parameter_count(const UNetConfig& config);
std::int64_t vae_parameter_count(const VaeConfig& config);
std::int64_t clip_text_parameter_count(const ClipTextConfig& config);

}  // namespace dsbench::diffusion
