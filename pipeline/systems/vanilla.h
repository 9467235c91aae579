// The lower bound: every portrait and scene drawn from its own prompt and seed with plain
// Stable Diffusion; portraits play no part in the scenes.
//
// params: {"scene_prompt": "auto" | "prompt" | "rewritten"} (default "auto": the
// rewritten prompt when the director wrote one, else the prompt),
//         {"negative_prompt": "..."} (default "").
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "pipeline/diffusion/stable_diffusion.h"
#include "pipeline/systems/registry.h"
#include "pipeline/systems/sd_common.h"
#include "pipeline/systems/system.h"

namespace dsbench::systems {

struct VanillaParams {
  ScenePromptChoice scene_prompt = ScenePromptChoice::kAuto;
  std::string negative_prompt;

  // InputError naming the field for unknown keys or bad values (checked before any
  // weights are loaded).
  static VanillaParams parse(const nlohmann::json& params);
};

class VanillaSystem : public System {
 public:
  VanillaSystem(std::shared_ptr<diffusion::StableDiffusion> pipeline, const SamplerSettings& sampler,
                const VanillaParams& params);

  std::string name() const override { return "vanilla"; }
  bool uses_portraits() const override { return false; }
  SystemOutput portrait(const PortraitRequest& request) override;
  SystemOutput scene(const SceneRequest& request) override;

 private:
  std::shared_ptr<diffusion::StableDiffusion> pipeline_;
  diffusion::SamplingOptions options_;
  ScenePromptChoice choice_ = ScenePromptChoice::kAuto;
};

// The registry's factory: params checked first, then the (shared) pipeline loaded.
std::unique_ptr<System> make_vanilla_system(const nlohmann::json& params, const ModelSettings& model);

}  // namespace dsbench::systems
