// Systems by type name, as configs name them ("vanilla", "dreamstory", ...).
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "pipeline/systems/system.h"

namespace dsbench::systems {

// The model a system runs on (from the config's `model` and `sampler` sections).
struct ModelSettings {
  std::string profile = "tiny";  // "tiny" (seeded random weights) or "sd15"
  std::string weights;           // diffusers folder or single-file checkpoint; empty for tiny
  int threads = 2;
  SamplerSettings sampler;
};

// InputError for an unknown type (with a "did you mean") or invalid params.
std::unique_ptr<System> create_system(const std::string& type, const nlohmann::json& params,
                                      const ModelSettings& model);
std::vector<std::string> system_types();

}  // namespace dsbench::systems
