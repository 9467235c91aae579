#include "pipeline/systems/storydiffusion.h"

#include "pipeline/systems/dreamstory.h"

namespace dsbench::systems {

namespace {

struct Parsed {
  ScenePromptChoice choice;
  std::string negative_prompt;
  attention::StoryDiffusionOptions csa;
};

Parsed parse(const nlohmann::json& params) {
  const SystemParams reader(params, "storydiffusion",
                            {"scene_prompt", "negative_prompt", "sample_rate", "plain_steps", "switch_step",
                             "early_probability", "late_probability"});
  Parsed parsed{reader.scene_prompt(), reader.text("negative_prompt", ""), {}};
  parsed.csa.sample_rate = reader.number("sample_rate", 0.5, 0.0, 1.0);
  parsed.csa.plain_steps = reader.integer("plain_steps", 5, 0, 100000);
  parsed.csa.switch_step = reader.integer("switch_step", 20, 0, 100000);
  parsed.csa.early_probability = reader.number("early_probability", 0.7, 0.0, 1.0);
  parsed.csa.late_probability = reader.number("late_probability", 0.9, 0.0, 1.0);
  return parsed;
}

}  // namespace

StoryDiffusionSystem::StoryDiffusionSystem(std::shared_ptr<diffusion::StableDiffusion> pipeline,
                                           const SamplerSettings& sampler, const nlohmann::json& params)
    : pipeline_(std::move(pipeline)) {
  const auto parsed = parse(params);
  options_ = sampling_options(sampler, parsed.negative_prompt);
  choice_ = parsed.choice;
  csa_ = parsed.csa;
}

SystemOutput StoryDiffusionSystem::portrait(const PortraitRequest& request) {
  return draw_portrait_with_mask(*pipeline_, request, options_);
}

SystemOutput StoryDiffusionSystem::scene(const SceneRequest& request) {
  const auto& scene = requested_scene(request);
  const auto prompt = choose_scene_prompt(scene, choice_);
  if (scene.subjects.empty()) return draw_vanilla(*pipeline_, prompt, request.seed, attention::RowRole::kScene, -1, options_);
  StoryBatch batch;
  for (const auto* portrait : scene_portraits(request)) {
    const auto& plan = request.plan->subjects.at(static_cast<std::size_t>(portrait->subject));
    batch.prompts.push_back(plan.portrait_prompt);
    batch.noises.push_back(portrait_noise(*pipeline_, portrait->image, plan.portrait_prompt, options_));
    batch.requests.push_back({plan.portrait_prompt, 0, attention::RowRole::kPortrait, portrait->subject});
  }
  batch.prompts.push_back(prompt);
  batch.noises.push_back(pipeline_->initial_noise(request.seed, options_.width, options_.height));
  batch.requests.push_back({prompt, request.seed, attention::RowRole::kScene, -1});
  auto csa = csa_;
  csa.seed = request.seed;
  SystemOutput output;
  output.image = draw_batch(*pipeline_, batch, options_, std::make_shared<attention::StoryDiffusionProcessor>(csa)).back();
  output.info = {{"prompt", prompt}, {"sample_rate", csa.sample_rate}};
  return output;
}

std::unique_ptr<System> make_storydiffusion_system(const nlohmann::json& params, const ModelSettings& model) {
  parse(params);  // errors before any weights are loaded
  return std::make_unique<StoryDiffusionSystem>(shared_pipeline(model), model.sampler, params);
}

}  // namespace dsbench::systems
