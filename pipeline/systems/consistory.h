// ConsiStory-style subject-driven shared attention (baselines.md) as a system: the scene
// and its subjects' portraits (rows started from the portraits' DDIM inversions) are drawn
// in one batch twice — a vanilla pass records cross-attention (→ one subject mask per image,
// the union of its subjects) and self-attention queries; the shared pass lets each image's
// subject tokens see the subject tokens of the other images (masks with seeded dropout),
// optionally blending queries with the vanilla pass early on. Not done: feature injection.
//
// params: "scene_prompt" (auto), "negative_prompt" (""), "mask_dropout" (0.5),
// "query_blend" ν (0.0) and "blend_until_step" (0): the spec gives no reference values for
// the layout-diversity blend, so it is off unless set.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>

#include "pipeline/attention/processors.h"
#include "pipeline/systems/registry.h"
#include "pipeline/systems/sd_common.h"

namespace dsbench::systems {

struct ConsiStoryParams {
  PortraitBatchParams batch;
  attention::ConsiStoryOptions shared;

  // InputError naming the field for unknown keys or bad values (checked before any
  // weights are loaded).
  static ConsiStoryParams parse(const nlohmann::json& params);
};

class ConsiStorySystem : public PortraitBatchSystem {
 public:
  ConsiStorySystem(std::shared_ptr<diffusion::StableDiffusion> pipeline, const SamplerSettings& sampler,
                   const ConsiStoryParams& params);
  std::string name() const override { return "consistory"; }

 private:
  SystemOutput scene_with_subjects(const SceneRequest& request, const std::string& prompt) override;

  attention::ConsiStoryOptions shared_;
};

std::unique_ptr<System> make_consistory_system(const nlohmann::json& params, const ModelSettings& model);

}  // namespace dsbench::systems
