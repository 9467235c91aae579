// DreamStory (arXiv 2407.12899) as the reference runs it (dreamstory-method.md): for a
// scene with S subjects, one batch [portrait_1 … portrait_S, scene] is drawn twice —
// a rehearsal pass with vanilla attention (cross-attention maps recorded → subject masks),
// then the final pass with MSD (MMSA + MMCA) on the scene row. The portrait rows start
// from the DDIM inversion of the portraits the executor hands over, so they redraw exactly
// those portraits (the reference reuses their start noises). When a subject wins no pixel
// of the rehearsal scene the scene is redrawn with a new seed (bounded; counted in
// SystemOutput.info["retries"]).
//
// params (defaults = the reference run's, where it has one):
//   "scene_prompt": "auto" | "prompt" | "rewritten"   (default "auto")
//   "negative_prompt": string                          (default "")
//   "mmsa": bool (true), "mmca": bool (true), "masks": bool (true; false = MSD over whole
//        images, no rehearsal)
//   "start_step": int (0)       MMSA from this denoising step on
//   "start_layer": int (-1)     MMSA from this transformer layer on (self+cross call index
//        halved); -1 = the reference's 36 of SDXL's 70 layers scaled to this UNet
//        (round(36/70 · layers): SD1.5 → 8)
//   "dropout": number (0.5)     mask-token dropout; "lambda": number (0.9) MMCA weight
//   "kernel": "grouped" | "dense" (grouped; identical results)
//   "max_retries": int (20)     subject-not-found retries
//   "mask_seed": int (0)        seeds the dropout draws (mixed with the scene's seed)
//   "mask_self_attention": bool (true)  the rehearsal's target masks carry each scene
//        cross-attention map through the scene row's self-attention of the same block
//        (4 passes of the released series, masks.h SelfAttentionSeries), as the
//        reference's masks without a segmenter do (get_mask_by_2attention); false: the
//        cross-attention maps alone. Portrait (source) masks never use it (the reference's
//        source masks are cross-attention only).
// Ablation types fix one of these: dreamstory-no-mmsa (mmsa false), -no-mmca (mmca
// false), -no-masks (masks false), -no-rewrite (scene_prompt "prompt").
#pragma once

#include <torch/torch.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "pipeline/attention/processors.h"
#include "pipeline/diffusion/stable_diffusion.h"
#include "pipeline/systems/registry.h"
#include "pipeline/systems/sd_common.h"
#include "pipeline/systems/system.h"

namespace dsbench::systems {

struct DreamStoryParams {
  ScenePromptChoice scene_prompt = ScenePromptChoice::kAuto;
  std::string negative_prompt;
  bool mmsa = true;
  bool mmca = true;
  bool masks = true;
  int start_step = 0;
  int start_layer = -1;
  double dropout = 0.5;
  double lambda = 0.9;
  attention::KernelChoice kernel = attention::KernelChoice::kGrouped;
  int max_retries = 20;
  int mask_seed = 0;
  bool mask_self_attention = true;

  // `type` names the params in errors ("dreamstory", "dreamstory-no-mmsa", ...); an
  // ablation's fixed key may not be set in its params (InputError).
  static DreamStoryParams parse(const nlohmann::json& params, const std::string& type = "dreamstory");
};

// ---- Helpers shared with the baselines (storydiffusion, consistory) ----------------------

// The scene's portraits in plan order of scene.subjects; RunError naming the story if one
// is missing.
std::vector<const Portrait*> scene_portraits(const SceneRequest& request);
// Start noise that makes the portrait row redraw `portrait` (DDIM inversion of its VAE
// latents, conditioned on its prompt, over options.steps).
torch::Tensor portrait_noise(diffusion::StableDiffusion& pipeline, const core::Image& portrait,
                             const std::string& prompt, const diffusion::SamplingOptions& options);
// Positions of the subject in the CLIP tokens of `prompt` (start token at 0, < 77): its
// class word, else its name, else its short prompt; empty if none occurs.
std::vector<int> subject_token_positions(const director::SubjectPlan& subject, const std::string& prompt);
// The two lowest attention resolutions (h, w) of the UNet at this image size (where the
// reference aggregates cross-attention for masks).
std::set<std::pair<int, int>> mask_resolutions(diffusion::StableDiffusion& pipeline, int width, int height);
// Transformer layers of the UNet (attention calls / 2).
int transformer_layer_count(diffusion::StableDiffusion& pipeline);

// One batch [portraits…, scene] denoised with `processor` on every layer; returns the
// decoded images in batch order.
struct StoryBatch {
  std::vector<std::string> prompts;           // portraits' prompts then the scene's
  std::vector<torch::Tensor> noises;          // [1, C, h, w] each
  std::vector<diffusion::ImageRequest> requests;  // roles and subjects (prompt/seed unused)
};
std::vector<core::Image> draw_batch(diffusion::StableDiffusion& pipeline, const StoryBatch& batch,
                                    const diffusion::SamplingOptions& options,
                                    std::shared_ptr<attention::Processor> processor);
// The portrait with the subject's mask (kind "mask", name "mask_<subject>") from its own
// cross-attention; what every MSD-family system returns from portrait().
SystemOutput draw_portrait_with_mask(diffusion::StableDiffusion& pipeline, const PortraitRequest& request,
                                     const diffusion::SamplingOptions& options);

class DreamStorySystem : public System {
 public:
  DreamStorySystem(std::string type, std::shared_ptr<diffusion::StableDiffusion> pipeline,
                   const SamplerSettings& sampler, const DreamStoryParams& params);

  std::string name() const override { return type_; }
  SystemOutput portrait(const PortraitRequest& request) override;
  SystemOutput scene(const SceneRequest& request) override;
  const DreamStoryParams& params() const { return params_; }
  // The MSD options the final pass uses (start_layer resolved for this UNet).
  attention::MsdOptions msd_options(std::uint64_t seed) const;

 private:
  std::string type_;
  std::shared_ptr<diffusion::StableDiffusion> pipeline_;
  diffusion::SamplingOptions options_;
  DreamStoryParams params_;
};

std::unique_ptr<System> make_dreamstory_system(const nlohmann::json& params, const ModelSettings& model);
std::unique_ptr<System> make_dreamstory_no_mmsa_system(const nlohmann::json& params, const ModelSettings& model);
std::unique_ptr<System> make_dreamstory_no_mmca_system(const nlohmann::json& params, const ModelSettings& model);
std::unique_ptr<System> make_dreamstory_no_masks_system(const nlohmann::json& params, const ModelSettings& model);
std::unique_ptr<System> make_dreamstory_no_rewrite_system(const nlohmann::json& params, const ModelSettings& model);

}  // namespace dsbench::systems
