#include "pipeline/systems/dreamstory.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "core/errors.h"
#include "pipeline/diffusion/clip_tokenizer.h"
#include "pipeline/masks/masks.h"

namespace dsbench::systems {

namespace {

const std::vector<std::string> kDreamStoryKeys = {"scene_prompt", "negative_prompt", "mmsa", "mmca", "masks",
                                                  "start_step", "start_layer", "dropout", "lambda", "kernel",
                                                  "max_retries", "mask_seed", "mask_self_attention"};

// The reference's exponent_N (DreamStoryAttnProcessor.__init__).
constexpr int kReferenceSelfAttentionPasses = 4;

// Reference: MMSA from layer 36 of SDXL's 70 transformer layers.
constexpr double kReferenceStartLayerFraction = 36.0 / 70.0;

std::string subject_suffix(int subject) {
  return (subject < 10 ? "0" : "") + std::to_string(subject);
}

std::uint64_t retry_seed(std::uint64_t seed, int attempt) {
  return seed + static_cast<std::uint64_t>(attempt) * 0x9E3779B97F4A7C15ULL;
}

std::vector<int> phrase_tokens(const std::string& phrase) {
  auto ids = diffusion::ClipTokenizer::instance().encode(phrase);
  if (ids.size() <= 2) return {};
  return {ids.begin() + 1, ids.end() - 1};
}

std::unique_ptr<System> make_variant(const std::string& type, const nlohmann::json& params, const ModelSettings& model) {
  const auto parsed = DreamStoryParams::parse(params, type);
  return std::make_unique<DreamStorySystem>(type, shared_pipeline(model), model.sampler, parsed);
}

}  // namespace

DreamStoryParams DreamStoryParams::parse(const nlohmann::json& params, const std::string& type) {
  const SystemParams reader(params, type, kDreamStoryKeys);
  const std::map<std::string, std::string> fixed = {{"dreamstory-no-mmsa", "mmsa"},
                                                    {"dreamstory-no-mmca", "mmca"},
                                                    {"dreamstory-no-masks", "masks"},
                                                    {"dreamstory-no-rewrite", "scene_prompt"}};
  const auto ablation = fixed.find(type);
  if (ablation != fixed.end() && reader.has(ablation->second)) {
    throw core::InputError(core::Location{"", 0, "system.params." + ablation->second},
                           "no value: " + type + " fixes " + ablation->second + " (use type dreamstory to set it)");
  }
  DreamStoryParams parsed;
  parsed.scene_prompt = reader.scene_prompt();
  parsed.negative_prompt = reader.text("negative_prompt", "");
  parsed.mmsa = reader.flag("mmsa", true);
  parsed.mmca = reader.flag("mmca", true);
  parsed.masks = reader.flag("masks", true);
  parsed.start_step = reader.integer("start_step", 0, 0, 100000);
  parsed.start_layer = reader.integer("start_layer", -1, -1, 100000);
  parsed.dropout = reader.number("dropout", 0.5, 0.0, 1.0);
  parsed.lambda = reader.number("lambda", 0.9, 0.0, 1.0);
  parsed.kernel = reader.choice("kernel", "grouped", {"grouped", "dense"}) == "dense" ? attention::KernelChoice::kDense
                                                                                      : attention::KernelChoice::kGrouped;
  parsed.max_retries = reader.integer("max_retries", 20, 0, 1000);
  parsed.mask_seed = reader.integer("mask_seed", 0, 0, 2147483647);
  parsed.mask_self_attention = reader.flag("mask_self_attention", true);
  if (type == "dreamstory-no-mmsa") parsed.mmsa = false;
  if (type == "dreamstory-no-mmca") parsed.mmca = false;
  if (type == "dreamstory-no-masks") parsed.masks = false;
  if (type == "dreamstory-no-rewrite") parsed.scene_prompt = ScenePromptChoice::kPrompt;
  return parsed;
}

// ---- shared helpers ----------------------------------------------------------------------

std::vector<const Portrait*> scene_portraits(const SceneRequest& request) {
  const auto& scene = requested_scene(request);
  std::vector<const Portrait*> found;
  for (const int subject : scene.subjects) {
    const auto match = std::find_if(request.portraits.begin(), request.portraits.end(),
                                    [&](const Portrait& p) { return p.subject == subject; });
    if (match == request.portraits.end() || match->image.empty()) {
      throw core::RunError("scene " + std::to_string(request.scene) + " of story " + request.plan->story_id +
                           " needs the portrait of subject " + std::to_string(subject) + ", which was not given");
    }
    found.push_back(&*match);
  }
  return found;
}

torch::Tensor portrait_noise(diffusion::StableDiffusion& pipeline, const core::Image& portrait,
                             const std::string& prompt, const diffusion::SamplingOptions& options) {
  torch::NoGradGuard no_grad;
  use_vanilla_attention(pipeline);
  const auto latents = pipeline.encode(portrait);
  return pipeline.invert(latents, pipeline.encode_prompts({prompt}), options.steps);
}

std::vector<int> subject_token_positions(const director::SubjectPlan& subject, const std::string& prompt) {
  const auto prompt_ids = diffusion::ClipTokenizer::instance().encode(prompt);
  for (const auto& phrase : {subject.kind, subject.name, subject.short_prompt}) {
    if (phrase.empty()) continue;
    auto positions = masks::find_token_positions(prompt_ids, phrase_tokens(phrase));
    std::erase_if(positions, [](int p) { return p >= diffusion::ClipTokenizer::kContextLength; });
    if (!positions.empty()) return positions;
  }
  return {};
}

std::set<std::pair<int, int>> mask_resolutions(diffusion::StableDiffusion& pipeline, int width, int height) {
  const int levels = static_cast<int>(pipeline.unet()->config().block_out_channels.size());
  std::set<int> factors;
  for (const auto& layer : pipeline.unet()->attention_layers()) {
    const int level = layer.block == attention::UNetBlock::kDown ? layer.level
                      : layer.block == attention::UNetBlock::kMid ? levels - 1
                                                                   : levels - 1 - layer.level;
    factors.insert(level);
  }
  const int scale = pipeline.latent_scale();
  std::set<std::pair<int, int>> resolutions;
  for (auto it = factors.rbegin(); it != factors.rend() && resolutions.size() < 2; ++it) {
    resolutions.insert({(height / scale) >> *it, (width / scale) >> *it});
  }
  return resolutions;
}

int transformer_layer_count(diffusion::StableDiffusion& pipeline) {
  return static_cast<int>(pipeline.unet()->attention_layers().size()) / 2;
}

std::vector<core::Image> draw_batch(diffusion::StableDiffusion& pipeline, const StoryBatch& batch,
                                    const diffusion::SamplingOptions& options,
                                    std::shared_ptr<attention::Processor> processor) {
  torch::NoGradGuard no_grad;
  use_vanilla_attention(pipeline);
  const VanillaAttentionRestorer restore(pipeline);
  pipeline.unet()->set_processor(std::move(processor));
  const auto cond = pipeline.encode_prompts(batch.prompts);
  const auto uncond = pipeline.encode_prompts({options.negative_prompt}).expand_as(cond).contiguous();
  const auto latents = pipeline.denoise(torch::cat(batch.noises), cond, uncond, options,
                                        diffusion::cfg_rows(batch.requests));
  return pipeline.decode(latents);
}

SystemOutput draw_portrait_with_mask(diffusion::StableDiffusion& pipeline, const PortraitRequest& request,
                                     const diffusion::SamplingOptions& options) {
  const auto& subject = requested_subject(request);
  StoryBatch batch;
  batch.prompts = {subject.portrait_prompt};
  batch.noises = {pipeline.initial_noise(request.seed, options.width, options.height)};
  batch.requests = {{subject.portrait_prompt, request.seed, attention::RowRole::kPortrait, request.subject}};
  auto recorder = std::make_shared<attention::AttentionRecorder>(std::make_shared<attention::VanillaProcessor>(),
                                                                 mask_resolutions(pipeline, options.width, options.height));
  SystemOutput output;
  output.image = draw_batch(pipeline, batch, options, recorder).front();
  output.info = {{"prompt", subject.portrait_prompt}};
  const auto tokens = subject_token_positions(subject, subject.portrait_prompt);
  if (!tokens.empty() && !recorder->maps().empty()) {
    masks::AttentionMaskOptions mask_options;
    mask_options.height = options.height;
    mask_options.width = options.width;
    const auto mask = masks::zero_bottom(masks::masks_from_attention(recorder->maps(), 1, {tokens}, mask_options).front());
    output.side_images.push_back({"mask", "mask_" + subject_suffix(request.subject), masks::mask_to_image(mask)});
  }
  return output;
}

// ---- DreamStory ------------------------------------------------------------------------

DreamStorySystem::DreamStorySystem(std::string type, std::shared_ptr<diffusion::StableDiffusion> pipeline,
                                   const SamplerSettings& sampler, const DreamStoryParams& params)
    : type_(std::move(type)),
      pipeline_(std::move(pipeline)),
      options_(sampling_options(sampler, params.negative_prompt)),
      params_(params) {}

attention::MsdOptions DreamStorySystem::msd_options(std::uint64_t seed) const {
  attention::MsdOptions msd;
  msd.enable_mmsa = params_.mmsa;
  msd.enable_mmca = params_.mmca;
  msd.use_masks = params_.masks;
  msd.start_step = params_.start_step;
  msd.start_layer = params_.start_layer >= 0
                        ? params_.start_layer
                        : static_cast<int>(std::lround(kReferenceStartLayerFraction * transformer_layer_count(*pipeline_)));
  msd.dropout = params_.dropout;
  msd.lambda = params_.lambda;
  msd.kernel = params_.kernel;
  msd.seed = seed ^ (static_cast<std::uint64_t>(params_.mask_seed) << 32);
  return msd;
}

SystemOutput DreamStorySystem::portrait(const PortraitRequest& request) {
  return draw_portrait_with_mask(*pipeline_, request, options_);
}

SystemOutput DreamStorySystem::scene(const SceneRequest& request) {
  const auto& scene = requested_scene(request);
  const auto prompt = choose_scene_prompt(scene, params_.scene_prompt);
  if (scene.subjects.empty()) {
    return draw_vanilla(*pipeline_, prompt, request.seed, attention::RowRole::kScene, -1, options_);
  }
  const auto portraits = scene_portraits(request);
  const auto& subjects = request.plan->subjects;
  const auto subject_count = static_cast<int>(portraits.size());

  StoryBatch batch;
  for (const auto* portrait : portraits) {
    const auto& plan = subjects.at(static_cast<std::size_t>(portrait->subject));
    batch.prompts.push_back(plan.portrait_prompt);
    batch.noises.push_back(portrait_noise(*pipeline_, portrait->image, plan.portrait_prompt, options_));
    batch.requests.push_back({plan.portrait_prompt, 0, attention::RowRole::kPortrait, portrait->subject});
  }
  batch.prompts.push_back(prompt);
  batch.noises.push_back(torch::Tensor());
  batch.requests.push_back({prompt, 0, attention::RowRole::kScene, -1});

  std::vector<std::vector<int>> scene_tokens;
  std::vector<int> without_tokens;
  for (const auto* portrait : portraits) {
    scene_tokens.push_back(subject_token_positions(subjects.at(static_cast<std::size_t>(portrait->subject)), prompt));
    if (scene_tokens.back().empty()) without_tokens.push_back(portrait->subject);
  }

  masks::AttentionMaskOptions mask_options;
  mask_options.height = options_.height;
  mask_options.width = options_.width;
  auto target_mask_options = mask_options;
  if (params_.mask_self_attention) target_mask_options.self_attention_passes = kReferenceSelfAttentionPasses;
  const auto resolutions = mask_resolutions(*pipeline_, options_.width, options_.height);
  // Conditional rows follow the S + 1 unconditional ones.
  const int scene_row = 2 * subject_count + 1;

  SystemOutput output;
  std::map<int, attention::SubjectMasks> subject_masks;
  std::vector<int> missing;
  int attempt = 0;
  std::uint64_t seed = request.seed;
  for (;; ++attempt) {
    seed = retry_seed(request.seed, attempt);
    batch.noises.back() = pipeline_->initial_noise(seed, options_.width, options_.height);
    if (!params_.masks) break;
    // Only the scene row's self-attention is kept: N² floats per layer and step.
    auto recorder = std::make_shared<attention::AttentionRecorder>(
        std::make_shared<attention::VanillaProcessor>(), resolutions,
        attention::SelfAttentionRecording{params_.mask_self_attention, {scene_row}});
    const auto rehearsal = draw_batch(*pipeline_, batch, options_, recorder);
    const auto targets =
        masks::masks_from_attention(recorder->maps(), scene_row, scene_tokens, target_mask_options, recorder->self_maps());
    subject_masks.clear();
    missing.clear();
    output.side_images.clear();
    for (int i = 0; i < subject_count; ++i) {
      const int subject = portraits[static_cast<std::size_t>(i)]->subject;
      const auto& plan = subjects.at(static_cast<std::size_t>(subject));
      const auto tokens = subject_token_positions(plan, plan.portrait_prompt);
      auto source = torch::ones({options_.height, options_.width}, torch::kBool);
      if (!tokens.empty()) {
        source = masks::zero_bottom(
            masks::masks_from_attention(recorder->maps(), subject_count + 1 + i, {tokens}, mask_options).front());
      }
      const auto& target = targets[static_cast<std::size_t>(i)];
      const bool has_tokens = !scene_tokens[static_cast<std::size_t>(i)].empty();
      if (has_tokens && !target.any().item<bool>()) missing.push_back(subject);
      subject_masks[subject] = {source, target};
      output.side_images.push_back({"mask", "target_mask_" + subject_suffix(subject), masks::mask_to_image(target)});
      output.side_images.push_back(
          {"source_mask", "source_mask_" + subject_suffix(subject), masks::mask_to_image(source)});
    }
    output.side_images.push_back({"rehearsal", "rehearsal", rehearsal.back()});
    if (missing.empty() || attempt >= params_.max_retries) break;
  }

  auto msd = std::make_shared<attention::MsdProcessor>(msd_options(seed));
  if (params_.masks) msd->set_masks(subject_masks);
  output.image = draw_batch(*pipeline_, batch, options_, msd).back();
  output.info = {{"prompt", prompt},
                 {"retries", attempt},
                 {"seed", seed},
                 {"subjects_not_found", missing},
                 {"subjects_without_tokens", without_tokens},
                 {"mmsa", params_.mmsa},
                 {"mmca", params_.mmca},
                 {"masks", params_.masks},
                 {"mask_self_attention", params_.masks && params_.mask_self_attention},
                 {"start_layer", msd->options().start_layer}};
  return output;
}

std::unique_ptr<System> make_dreamstory_system(const nlohmann::json& params, const ModelSettings& model) {
  return make_variant("dreamstory", params, model);
}
std::unique_ptr<System> make_dreamstory_no_mmsa_system(const nlohmann::json& params, const ModelSettings& model) {
  return make_variant("dreamstory-no-mmsa", params, model);
}
std::unique_ptr<System> make_dreamstory_no_mmca_system(const nlohmann::json& params, const ModelSettings& model) {
  return make_variant("dreamstory-no-mmca", params, model);
}
std::unique_ptr<System> make_dreamstory_no_masks_system(const nlohmann::json& params, const ModelSettings& model) {
  return make_variant("dreamstory-no-masks", params, model);
}
std::unique_ptr<System> make_dreamstory_no_rewrite_system(const nlohmann::json& params, const ModelSettings& model) {
  return make_variant("dreamstory-no-rewrite", params, model);
}

}  // namespace dsbench::systems
