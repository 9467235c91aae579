#include "pipeline/systems/storydiffusion.h"

#include "pipeline/systems/dreamstory.h"

namespace dsbench::systems {

StoryDiffusionParams StoryDiffusionParams::parse(const nlohmann::json& params) {
  const SystemParams reader(params, "storydiffusion",
                            {"scene_prompt", "negative_prompt", "sample_rate", "plain_steps", "switch_step",
                             "early_probability", "late_probability"});
  StoryDiffusionParams parsed{PortraitBatchParams::read(reader), {}};
  parsed.csa.sample_rate = reader.number("sample_rate", 0.5, 0.0, 1.0);
  parsed.csa.plain_steps = reader.integer("plain_steps", 5, 0, 100000);
  parsed.csa.switch_step = reader.integer("switch_step", 20, 0, 100000);
  parsed.csa.early_probability = reader.number("early_probability", 0.7, 0.0, 1.0);
  parsed.csa.late_probability = reader.number("late_probability", 0.9, 0.0, 1.0);
  return parsed;
}

StoryDiffusionSystem::StoryDiffusionSystem(std::shared_ptr<diffusion::StableDiffusion> pipeline,
                                           const SamplerSettings& sampler, const StoryDiffusionParams& params)
    : PortraitBatchSystem(std::move(pipeline), sampler, params.batch), csa_(params.csa) {}

SystemOutput StoryDiffusionSystem::scene_with_subjects(const SceneRequest& request, const std::string& prompt) {
  auto& pipeline = this->pipeline();
  const auto& options = this->options();
  StoryBatch batch;
  for (const auto* portrait : scene_portraits(request)) {
    const auto& plan = request.plan->subjects.at(static_cast<std::size_t>(portrait->subject));
    batch.prompts.push_back(plan.portrait_prompt);
    batch.noises.push_back(portrait_noise(pipeline, portrait->image, plan.portrait_prompt, options));
    batch.requests.push_back({plan.portrait_prompt, 0, attention::RowRole::kPortrait, portrait->subject});
  }
  batch.prompts.push_back(prompt);
  batch.noises.push_back(pipeline.initial_noise(request.seed, options.width, options.height));
  batch.requests.push_back({prompt, request.seed, attention::RowRole::kScene, -1});
  auto csa = csa_;
  csa.seed = request.seed;
  SystemOutput output;
  output.image = draw_batch(pipeline, batch, options, std::make_shared<attention::StoryDiffusionProcessor>(csa)).back();
  output.info = {{"prompt", prompt}, {"sample_rate", csa.sample_rate}};
  return output;
}

std::unique_ptr<System> make_storydiffusion_system(const nlohmann::json& params, const ModelSettings& model) {
  const auto parsed = StoryDiffusionParams::parse(params);
  return std::make_unique<StoryDiffusionSystem>(shared_pipeline(model), model.sampler, parsed);
}

}  // namespace dsbench::systems
