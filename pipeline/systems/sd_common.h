// What every Stable-Diffusion-based system needs and should not write again: the pipeline
// for the run's ModelSettings (shared between systems of one run), sampling options from
// the sampler settings, checked access to the plan's subjects and scenes, the choice of a
// scene's prompt, and a reader for `system.params` that rejects unknown keys with a
// "did you mean" (so a typo in a config never silently falls back to a default).
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "pipeline/diffusion/stable_diffusion.h"
#include "pipeline/systems/registry.h"
#include "pipeline/systems/system.h"

namespace dsbench::systems {

// The pipeline for `model`: its profile (InputError with a did-you-mean for an unknown
// name), its weights loaded, `threads` set. Systems created with equal settings while a
// previous pipeline is alive share it (an sd15 pipeline holds 4 GB).
std::shared_ptr<diffusion::StableDiffusion> shared_pipeline(const ModelSettings& model);

// Systems of a run share pipelines, so attention processors must not leak from one
// system's image into another's: use_vanilla_attention puts vanilla attention back on
// every UNet layer (default and per-layer overrides); a system that installs processors
// holds a VanillaAttentionRestorer while it draws.
void use_vanilla_attention(diffusion::StableDiffusion& pipeline);
class VanillaAttentionRestorer {
 public:
  explicit VanillaAttentionRestorer(diffusion::StableDiffusion& pipeline) : pipeline_(pipeline) {}
  ~VanillaAttentionRestorer() { use_vanilla_attention(pipeline_); }
  VanillaAttentionRestorer(const VanillaAttentionRestorer&) = delete;
  VanillaAttentionRestorer& operator=(const VanillaAttentionRestorer&) = delete;

 private:
  diffusion::StableDiffusion& pipeline_;
};

diffusion::SamplingOptions sampling_options(const SamplerSettings& sampler, const std::string& negative_prompt = "");

// The plan's subject/scene a request names; RunError (naming the story) when out of range.
const director::SubjectPlan& requested_subject(const PortraitRequest& request);
const director::ScenePlan& requested_scene(const SceneRequest& request);

// One image from `prompt` with plain (vanilla) attention; info {"prompt": prompt}.
SystemOutput draw_vanilla(diffusion::StableDiffusion& pipeline, const std::string& prompt, std::uint64_t seed,
                          attention::RowRole role, int subject, const diffusion::SamplingOptions& options);
// A subject's portrait as every system draws it (the contract: metrics compare scenes
// against these): its portrait prompt, its own seed, vanilla attention.
SystemOutput draw_portrait(diffusion::StableDiffusion& pipeline, const PortraitRequest& request,
                           const diffusion::SamplingOptions& options);

// Which of a scene's prompts a system draws from: the director's rewritten prompt (names
// replaced by short descriptions) or the prompt as written. kAuto: rewritten when there
// is one.
enum class ScenePromptChoice { kAuto, kPrompt, kRewritten };
// InputError if kRewritten is asked for a scene without a rewritten prompt.
std::string choose_scene_prompt(const director::ScenePlan& scene, ScenePromptChoice choice);

// `system.params` of one system type. The constructor checks that params is an object (or
// null) whose keys are all in `known`; getters check types and ranges. Every error is an
// InputError whose field is "system.params.<key>".
class SystemParams {
 public:
  SystemParams(const nlohmann::json& params, std::string system_type, std::vector<std::string> known);

  bool has(const std::string& key) const;
  std::string text(const std::string& key, const std::string& fallback) const;
  double number(const std::string& key, double fallback, double min, double max) const;
  int integer(const std::string& key, int fallback, int min, int max) const;
  bool flag(const std::string& key, bool fallback) const;
  // One of `allowed` (did-you-mean on a miss).
  std::string choice(const std::string& key, const std::string& fallback, const std::vector<std::string>& allowed) const;
  // "scene_prompt": "auto" | "prompt" | "rewritten".
  ScenePromptChoice scene_prompt(const std::string& key = "scene_prompt",
                                 ScenePromptChoice fallback = ScenePromptChoice::kAuto) const;

 private:
  const nlohmann::json* find(const std::string& key) const;
  [[noreturn]] void fail(const std::string& key, const std::string& expected) const;

  nlohmann::json params_;
  std::string type_;
};

// The params of every PortraitBatchSystem: "scene_prompt" (auto) and "negative_prompt" ("").
struct PortraitBatchParams {
  ScenePromptChoice scene_prompt = ScenePromptChoice::kAuto;
  std::string negative_prompt;

  static PortraitBatchParams read(const SystemParams& params);
};

// The scaffolding of the baselines that draw a scene in one batch with its subjects'
// portraits (storydiffusion, consistory): sampling options with the negative prompt,
// portraits drawn with their masks (draw_portrait_with_mask), and a scene without subjects
// drawn plainly; a scene with subjects is the subclass's scene_with_subjects.
class PortraitBatchSystem : public System {
 public:
  SystemOutput portrait(const PortraitRequest& request) override;
  SystemOutput scene(const SceneRequest& request) override;

 protected:
  PortraitBatchSystem(std::shared_ptr<diffusion::StableDiffusion> pipeline, const SamplerSettings& sampler,
                      const PortraitBatchParams& params);
  // `prompt`: the scene's prompt as the scene_prompt param chose it.
  virtual SystemOutput scene_with_subjects(const SceneRequest& request, const std::string& prompt) = 0;

  diffusion::StableDiffusion& pipeline() const { return *pipeline_; }
  const diffusion::SamplingOptions& options() const { return options_; }

 private:
  std::shared_ptr<diffusion::StableDiffusion> pipeline_;
  diffusion::SamplingOptions options_;
  ScenePromptChoice choice_;
};

}  // namespace dsbench::systems
