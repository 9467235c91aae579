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

SystemOutput VanillaSystem::draw(const std::string& prompt, std::uint64_t seed, attention::RowRole role,
                                 int subject) {
  const diffusion::ImageRequest request{prompt, seed, role, subject};
  use_vanilla_attention(*pipeline_);  // whatever another system sharing the pipeline left
  SystemOutput output;
  output.image = pipeline_->generate({request}, options_).front();
  output.info = {{"prompt", prompt}};
  return output;
}

SystemOutput VanillaSystem::portrait(const PortraitRequest& request) {
  return draw(requested_subject(request).portrait_prompt, request.seed, attention::RowRole::kPortrait,
              request.subject);
}

SystemOutput VanillaSystem::scene(const SceneRequest& request) {
  return draw(choose_scene_prompt(requested_scene(request), choice_), request.seed, attention::RowRole::kScene, -1);
}

std::unique_ptr<System> make_vanilla_system(const nlohmann::json& params, const ModelSettings& model) {
  const auto parsed = VanillaParams::parse(params);
  return std::make_unique<VanillaSystem>(shared_pipeline(model), model.sampler, parsed);
}

}  // namespace dsbench::systems
