// StoryDiffusion's consistent self-attention (baselines.md) as a system: the scene is drawn
// in one batch with its subjects' portraits (rows started from the portraits' DDIM
// inversions), every image's self-attention also seeing a random sample of the other
// images' tokens. Portraits: plain SD with the subject's mask (draw_portrait_with_mask).
//
// params: "scene_prompt" (auto), "negative_prompt" (""), "sample_rate" (0.5, the paper's
// rate at both 32² and 64²), "plain_steps" (5), "switch_step" (20), "early_probability"
// (0.7), "late_probability" (0.9): the paper's schedule.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>

#include "pipeline/attention/processors.h"
#include "pipeline/systems/registry.h"
#include "pipeline/systems/sd_common.h"

namespace dsbench::systems {

struct StoryDiffusionParams {
  PortraitBatchParams batch;
  attention::StoryDiffusionOptions csa;

  // InputError naming the field for unknown keys or bad values (checked before any
  // weights are loaded).
  static StoryDiffusionParams parse(const nlohmann::json& params);
};

class StoryDiffusionSystem : public PortraitBatchSystem {
 public:
  StoryDiffusionSystem(std::shared_ptr<diffusion::StableDiffusion> pipeline, const SamplerSettings& sampler,
                       const StoryDiffusionParams& params);
  std::string name() const override { return "storydiffusion"; }

 private:
  SystemOutput scene_with_subjects(const SceneRequest& request, const std::string& prompt) override;

  attention::StoryDiffusionOptions csa_;
};

std::unique_ptr<System> make_storydiffusion_system(const nlohmann::json& params, const ModelSettings& model);

}  // namespace dsbench::systems
