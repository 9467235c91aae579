#include "pipeline/systems/consistory.h"

#include "pipeline/masks/masks.h"
#include "pipeline/systems/dreamstory.h"

namespace dsbench::systems {

ConsiStoryParams ConsiStoryParams::parse(const nlohmann::json& params) {
  const SystemParams reader(params, "consistory",
                            {"scene_prompt", "negative_prompt", "mask_dropout", "query_blend", "blend_until_step"});
  ConsiStoryParams parsed{PortraitBatchParams::read(reader), {}};
  parsed.shared.mask_dropout = reader.number("mask_dropout", 0.5, 0.0, 1.0);
  parsed.shared.query_blend = reader.number("query_blend", 0.0, 0.0, 1.0);
  parsed.shared.blend_until_step = reader.integer("blend_until_step", 0, 0, 100000);
  return parsed;
}

ConsiStorySystem::ConsiStorySystem(std::shared_ptr<diffusion::StableDiffusion> pipeline, const SamplerSettings& sampler,
                                   const ConsiStoryParams& params)
    : PortraitBatchSystem(std::move(pipeline), sampler, params.batch), shared_(params.shared) {}

SystemOutput ConsiStorySystem::scene_with_subjects(const SceneRequest& request, const std::string& prompt) {
  auto& pipeline = this->pipeline();
  const auto& sampling = options();
  const auto portraits = scene_portraits(request);
  const auto& subjects = request.plan->subjects;
  StoryBatch batch;
  std::vector<std::vector<std::vector<int>>> tokens;  // per image, per subject in it
  for (const auto* portrait : portraits) {
    const auto& plan = subjects.at(static_cast<std::size_t>(portrait->subject));
    batch.prompts.push_back(plan.portrait_prompt);
    batch.noises.push_back(portrait_noise(pipeline, portrait->image, plan.portrait_prompt, sampling));
    batch.requests.push_back({plan.portrait_prompt, 0, attention::RowRole::kPortrait, portrait->subject});
    tokens.push_back({subject_token_positions(plan, plan.portrait_prompt)});
  }
  batch.prompts.push_back(prompt);
  batch.noises.push_back(pipeline.initial_noise(request.seed, sampling.width, sampling.height));
  batch.requests.push_back({prompt, request.seed, attention::RowRole::kScene, -1});
  tokens.emplace_back();
  for (const auto* portrait : portraits) {
    tokens.back().push_back(subject_token_positions(subjects.at(static_cast<std::size_t>(portrait->subject)), prompt));
  }

  auto options = shared_;
  options.seed = request.seed;
  auto shared = std::make_shared<attention::ConsiStoryProcessor>(options);
  auto recorder = std::make_shared<attention::AttentionRecorder>(
      shared, mask_resolutions(pipeline, sampling.width, sampling.height));
  shared->record_vanilla_queries(true);
  draw_batch(pipeline, batch, sampling, recorder);
  shared->record_vanilla_queries(false);

  masks::AttentionMaskOptions mask_options;
  mask_options.height = sampling.height;
  mask_options.width = sampling.width;
  const int images = static_cast<int>(batch.requests.size());
  std::map<int, torch::Tensor> image_masks;
  SystemOutput output;
  for (int image = 0; image < images; ++image) {
    auto mask = torch::zeros({sampling.height, sampling.width}, torch::kBool);
    const auto& wanted = tokens[static_cast<std::size_t>(image)];
    std::vector<std::vector<int>> present;
    for (const auto& t : wanted)
      if (!t.empty()) present.push_back(t);
    if (!present.empty()) {
      for (const auto& m : masks::masks_from_attention(recorder->maps(), images + image, present, mask_options)) mask |= m;
    }
    image_masks[image] = mask;
  }
  // The scene's per-subject masks, for D&C-DS.
  if (!recorder->maps().empty()) {
    for (std::size_t i = 0; i < portraits.size(); ++i) {
      const auto& t = tokens.back()[i];
      if (t.empty()) continue;
      const auto mask = masks::masks_from_attention(recorder->maps(), 2 * images - 1, {t}, mask_options).front();
      const int subject = portraits[i]->subject;
      output.side_images.push_back({"mask", std::string("target_mask_") + (subject < 10 ? "0" : "") + std::to_string(subject),
                                    masks::mask_to_image(mask & image_masks[images - 1])});
    }
  }
  shared->set_masks(image_masks);
  output.image = draw_batch(pipeline, batch, sampling, shared).back();
  output.info = {{"prompt", prompt}, {"mask_dropout", options.mask_dropout}};
  return output;
}

std::unique_ptr<System> make_consistory_system(const nlohmann::json& params, const ModelSettings& model) {
  const auto parsed = ConsiStoryParams::parse(params);
  return std::make_unique<ConsiStorySystem>(shared_pipeline(model), model.sampler, parsed);
}

}  // namespace dsbench::systems
