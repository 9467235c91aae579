#include "pipeline/systems/vanilla.h"

namespace dsbench::systems {

VanillaParams VanillaParams::parse(const nlohmann::json& params) {
  const SystemParams reader(params, "vanilla", {"scene_prompt", "negative_prompt"});
  VanillaParams parsed;
  parsed.scene_prompt = reader.scene_prompt();
  parsed.negative_prompt = reader.text("negative_prompt", "");
  return parsed;
}

VanillaSystem::VanillaSystem(std::shared_ptr<diffusion::StableDiffusion> pipeline,
                             const SamplerSettings& sampler, const VanillaParams& params)
    : pipeline_(std::move(pipeline)),
      options_(sampling_options(sampler, params.negative_prompt)),
      choice_(params.scene_prompt) {}

SystemOutput VanillaSystem::portrait(const PortraitRequest& request) {
  return draw_portrait(*pipeline_, request, options_);
}

SystemOutput VanillaSystem::scene(const SceneRequest& request) {
  return draw_vanilla(*pipeline_, choose_scene_prompt(requested_scene(request), choice_), request.seed,
                      attention::RowRole::kScene, -1, options_);
}

std::unique_ptr<System> make_vanilla_system(const nlohmann::json& params, const ModelSettings& model) {
  const auto parsed = VanillaParams::parse(params);
  return std::make_unique<VanillaSystem>(shared_pipeline(model), model.sampler, parsed);
}

}  // namespace dsbench::systems
