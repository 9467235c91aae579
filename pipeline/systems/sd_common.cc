#include "pipeline/systems/sd_common.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <sstream>

#include "core/errors.h"
#include "core/text.h"
// The portrait-with-mask drawing the baselines share lives with DreamStory's helpers.
#include "pipeline/systems/dreamstory.h"

namespace dsbench::systems {

namespace {

std::string pipeline_key(const ModelSettings& model) {
  return model.profile + '\n' + model.weights + '\n' + std::to_string(model.threads);
}

const std::vector<std::string> kScenePromptChoices{"auto", "prompt", "rewritten"};

std::string number_text(double value) {
  std::ostringstream text;
  text << value;  // %g: bounds read as written ("0", "1", "0.5")
  return text.str();
}

}  // namespace

std::shared_ptr<diffusion::StableDiffusion> shared_pipeline(const ModelSettings& model) {
  static std::mutex mutex;
  static std::map<std::string, std::weak_ptr<diffusion::StableDiffusion>> alive;
  const std::lock_guard<std::mutex> lock(mutex);
  const auto key = pipeline_key(model);
  if (auto existing = alive[key].lock()) return existing;
  const auto profile = diffusion::profile_by_name(model.profile);
  auto pipeline = std::make_shared<diffusion::StableDiffusion>(diffusion::load_models(profile, model.weights),
                                                               model.threads);
  alive[key] = pipeline;
  return pipeline;
}

void use_vanilla_attention(diffusion::StableDiffusion& pipeline) {
  auto& unet = pipeline.unet();
  unet->set_processor(std::make_shared<attention::VanillaProcessor>());
  for (const auto& layer : unet->attention_layers()) unet->set_layer_processor(layer.name, nullptr);
}

diffusion::SamplingOptions sampling_options(const SamplerSettings& sampler, const std::string& negative_prompt) {
  diffusion::SamplingOptions options;
  options.steps = sampler.steps;
  options.guidance = sampler.guidance;
  options.width = sampler.width;
  options.height = sampler.height;
  options.negative_prompt = negative_prompt;
  return options;
}

const director::SubjectPlan& requested_subject(const PortraitRequest& request) {
  if (request.plan == nullptr) throw core::RunError("portrait request without a story plan");
  const auto& subjects = request.plan->subjects;
  if (request.subject < 0 || request.subject >= static_cast<int>(subjects.size())) {
    throw core::RunError("portrait request for subject " + std::to_string(request.subject) + " of story " +
                         request.plan->story_id + ", which has " + std::to_string(subjects.size()));
  }
  return subjects[static_cast<std::size_t>(request.subject)];
}

const director::ScenePlan& requested_scene(const SceneRequest& request) {
  if (request.plan == nullptr) throw core::RunError("scene request without a story plan");
  const auto& scenes = request.plan->scenes;
  if (request.scene < 0 || request.scene >= static_cast<int>(scenes.size())) {
    throw core::RunError("scene request for scene " + std::to_string(request.scene) + " of story " +
                         request.plan->story_id + ", which has " + std::to_string(scenes.size()));
  }
  return scenes[static_cast<std::size_t>(request.scene)];
}

SystemOutput draw_vanilla(diffusion::StableDiffusion& pipeline, const std::string& prompt, std::uint64_t seed,
                          attention::RowRole role, int subject, const diffusion::SamplingOptions& options) {
  use_vanilla_attention(pipeline);  // whatever another system sharing the pipeline left
  const diffusion::ImageRequest request{prompt, seed, role, subject};
  SystemOutput output;
  output.image = pipeline.generate({request}, options).front();
  output.info = {{"prompt", prompt}};
  return output;
}

SystemOutput draw_portrait(diffusion::StableDiffusion& pipeline, const PortraitRequest& request,
                           const diffusion::SamplingOptions& options) {
  return draw_vanilla(pipeline, requested_subject(request).portrait_prompt, request.seed,
                      attention::RowRole::kPortrait, request.subject, options);
}

std::string choose_scene_prompt(const director::ScenePlan& scene, ScenePromptChoice choice) {
  switch (choice) {
    case ScenePromptChoice::kPrompt: return scene.prompt;
    case ScenePromptChoice::kRewritten:
      if (scene.rewritten_prompt.empty()) {
        throw core::InputError(core::Location{"", 0, "system.params.scene_prompt"},
                               "\"rewritten\" needs rewritten prompts, but scene \"" + scene.prompt +
                                   "\" has none (use \"auto\" or \"prompt\")");
      }
      return scene.rewritten_prompt;
    case ScenePromptChoice::kAuto: break;
  }
  return scene.rewritten_prompt.empty() ? scene.prompt : scene.rewritten_prompt;
}

SystemParams::SystemParams(const nlohmann::json& params, std::string system_type, std::vector<std::string> known)
    : params_(params.is_null() ? nlohmann::json::object() : params), type_(std::move(system_type)) {
  if (!params_.is_object()) {
    throw core::InputError(core::Location{"", 0, "system.params"},
                           "an object of " + type_ + " parameters (or nothing), got " + params_.dump());
  }
  for (const auto& item : params_.items()) {
    if (std::find(known.begin(), known.end(), item.key()) != known.end()) continue;
    fail(item.key(), "a " + type_ + " parameter (" + (known.empty() ? "it takes none" : core::join(known, ", ")) +
                         ")" + core::did_you_mean(item.key(), known));
  }
}

void SystemParams::fail(const std::string& key, const std::string& expected) const {
  throw core::InputError(core::Location{"", 0, "system.params." + key}, expected);
}

const nlohmann::json* SystemParams::find(const std::string& key) const {
  const auto at = params_.find(key);
  return at == params_.end() ? nullptr : &*at;
}

bool SystemParams::has(const std::string& key) const { return find(key) != nullptr; }

std::string SystemParams::text(const std::string& key, const std::string& fallback) const {
  const auto* value = find(key);
  if (value == nullptr) return fallback;
  if (!value->is_string()) fail(key, "a string, got " + value->dump());
  return value->get<std::string>();
}

double SystemParams::number(const std::string& key, double fallback, double min, double max) const {
  const auto* value = find(key);
  if (value == nullptr) return fallback;
  if (!value->is_number()) fail(key, "a number, got " + value->dump());
  const double number = value->get<double>();
  if (!(number >= min && number <= max)) {
    fail(key, "a number in [" + number_text(min) + ", " + number_text(max) + "], got " +
                  value->dump());
  }
  return number;
}

int SystemParams::integer(const std::string& key, int fallback, int min, int max) const {
  const auto* value = find(key);
  if (value == nullptr) return fallback;
  if (!value->is_number_integer()) fail(key, "an integer, got " + value->dump());
  const auto number = value->get<std::int64_t>();
  if (number < min || number > max) {
    fail(key, "an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "], got " + value->dump());
  }
  return static_cast<int>(number);
}

bool SystemParams::flag(const std::string& key, bool fallback) const {
  const auto* value = find(key);
  if (value == nullptr) return fallback;
  if (!value->is_boolean()) fail(key, "true or false, got " + value->dump());
  return value->get<bool>();
}

std::string SystemParams::choice(const std::string& key, const std::string& fallback,
                                 const std::vector<std::string>& allowed) const {
  const auto* value = find(key);
  if (value == nullptr) return fallback;
  std::string quoted;
  for (const auto& option : allowed) quoted += (quoted.empty() ? "\"" : ", \"") + option + "\"";
  if (!value->is_string()) fail(key, "one of " + quoted + ", got " + value->dump());
  const auto text = value->get<std::string>();
  if (std::find(allowed.begin(), allowed.end(), text) == allowed.end()) {
    fail(key, "one of " + quoted + ", got \"" + text + "\"" + core::did_you_mean(text, allowed));
  }
  return text;
}

ScenePromptChoice SystemParams::scene_prompt(const std::string& key, ScenePromptChoice fallback) const {
  if (!has(key)) return fallback;
  const auto text = choice(key, "auto", kScenePromptChoices);
  if (text == "prompt") return ScenePromptChoice::kPrompt;
  if (text == "rewritten") return ScenePromptChoice::kRewritten;
  return ScenePromptChoice::kAuto;
}

PortraitBatchParams PortraitBatchParams::read(const SystemParams& params) {
  PortraitBatchParams read;
  read.scene_prompt = params.scene_prompt();
  read.negative_prompt = params.text("negative_prompt", "");
  return read;
}

PortraitBatchSystem::PortraitBatchSystem(std::shared_ptr<diffusion::StableDiffusion> pipeline,
                                         const SamplerSettings& sampler, const PortraitBatchParams& params)
    : pipeline_(std::move(pipeline)),
      options_(sampling_options(sampler, params.negative_prompt)),
      choice_(params.scene_prompt) {}

SystemOutput PortraitBatchSystem::portrait(const PortraitRequest& request) {
  return draw_portrait_with_mask(*pipeline_, request, options_);
}

SystemOutput PortraitBatchSystem::scene(const SceneRequest& request) {
  const auto& scene = requested_scene(request);
  const auto prompt = choose_scene_prompt(scene, choice_);
  if (scene.subjects.empty()) return draw_vanilla(*pipeline_, prompt, request.seed, attention::RowRole::kScene, -1, options_);
  return scene_with_subjects(request, prompt);
}

}  // namespace dsbench::systems
