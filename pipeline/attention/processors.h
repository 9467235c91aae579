// Attention processors built on the seam (processor.h): DreamStory's MSD (MMSA + MMCA),
// the training-free baselines (StoryDiffusion, ConsiStory) and a recorder of
// cross-attention maps for mask extraction.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <utility>
#include <vector>

#include "pipeline/attention/kernels.h"
#include "pipeline/attention/processor.h"

namespace dsbench::attention {

enum class KernelChoice { kDense, kGrouped };

// Defaults follow the reference run (dreamstory-method.md).
struct MsdOptions {
  bool enable_mmsa = true;
  bool enable_mmca = true;
  bool use_masks = true;   // false: the "without masks" ablation, every scene token sees
                           // every portrait token (mutual self-attention over whole images)
  int start_step = 0;      // MMSA from this denoising step on
  int start_layer = 36;    // MMSA from this layer on; layer = call_index / 2, i.e. the
                           // reference's attention-call counter (self and cross) halved
  double dropout = 0.5;    // mask-token dropout probability
  double lambda = 0.9;     // MMCA weight
  KernelChoice kernel = KernelChoice::kGrouped;
  std::uint64_t seed = 0;  // mask-token dropout draws
};

// Subject masks as images ([H, W], bool or float in [0, 1], any resolution): where the
// subject is in its portrait (source) and in the scene (target).
struct SubjectMasks {
  torch::Tensor source;
  torch::Tensor target;
};

// MSD as the reference applies it (DreamStoryAttnProcessor):
// - portrait rows always use vanilla attention;
// - each scene row runs MMSA with the portrait rows of the same CFG half (unconditional
//   scene with unconditional portraits), on self-attention from start_step/start_layer on;
// - each scene row runs MMCA on every cross-attention call (the reference applies it at
//   all layers and steps), each subject's text keys/values taken from its portrait row's
//   context; the blend uses the masks without dropout (the reference's is_dropout_ca=false);
// - the dropout draw is shared by source and target mask of a subject (the reference
//   multiplies both by one Bernoulli draw) and is redrawn per step and layer size.
class MsdProcessor : public Processor {
 public:
  explicit MsdProcessor(MsdOptions options = {});
  // Masks by subject index (BatchRow::subject). Required for every subject whose
  // portrait is in the batch when use_masks is on.
  void set_masks(std::map<int, SubjectMasks> masks);
  const MsdOptions& options() const { return options_; }

  torch::Tensor attend(const AttentionCall& call, const AttentionLayer& layer, const torch::Tensor& hidden,
                       const torch::Tensor& context) override;

 private:
  struct LayerMasks {
    torch::Tensor target;          // bool [S, N] after dropout (MMSA)
    torch::Tensor source;          // bool [S, N_p] after dropout (MMSA)
    torch::Tensor target_undropped;  // bool [S, N] (MMCA)
  };
  LayerMasks layer_masks(const std::vector<int>& subjects, const AttentionCall& call) const;
  torch::Tensor self_attention(const AttentionCall& call, const AttentionLayer& layer, const torch::Tensor& hidden);
  torch::Tensor cross_attention(const AttentionCall& call, const AttentionLayer& layer, const torch::Tensor& hidden,
                                const torch::Tensor& context);

  MsdOptions options_;
  std::map<int, SubjectMasks> masks_;
};

// StoryDiffusion's consistent self-attention (baselines.md). Rows of the same CFG half
// are the identity images; image i's self-attention also sees each other image's tokens
// kept with probability sample_rate (one draw per (step, layer call, image i)).
struct StoryDiffusionOptions {
  double sample_rate = 0.5;
  int plain_steps = 5;            // steps 0..plain_steps−1: plain self-attention
  int switch_step = 20;           // up to this step CSA runs with early_probability
  double early_probability = 0.7;
  double late_probability = 0.9;
  std::uint64_t seed = 0;
};

class StoryDiffusionProcessor : public Processor {
 public:
  explicit StoryDiffusionProcessor(StoryDiffusionOptions options = {});
  // Whether consistent self-attention runs at this step (the seeded per-step coin).
  bool active_at(int step) const;
  torch::Tensor attend(const AttentionCall& call, const AttentionLayer& layer, const torch::Tensor& hidden,
                       const torch::Tensor& context) override;

 private:
  StoryDiffusionOptions options_;
};

// ConsiStory-style subject-driven shared attention (baselines.md): in image i, queries
// inside i's subject mask attend to all of i's tokens plus the subject tokens of every
// other image of the same CFG half (masks with seeded dropout); other queries are plain.
// Layout diversity: a vanilla pass run with record_vanilla_queries(true) stores each
// self-attention call's queries; the shared pass then uses (1−ν)Q + ν·Q_vanilla before
// blend_until_step. Not done: feature injection (dense correspondences).
struct ConsiStoryOptions {
  double mask_dropout = 0.5;
  double query_blend = 0.0;  // ν
  int blend_until_step = 0;  // query blending at steps < this
  std::uint64_t seed = 0;
};

class ConsiStoryProcessor : public Processor {
 public:
  explicit ConsiStoryProcessor(ConsiStoryOptions options = {});
  // Subject mask image [H, W] per batch image (BatchRow::image).
  void set_masks(std::map<int, torch::Tensor> masks);
  // While on, every call is vanilla and self-attention queries are kept per call index.
  void record_vanilla_queries(bool on) { recording_ = on; }
  torch::Tensor attend(const AttentionCall& call, const AttentionLayer& layer, const torch::Tensor& hidden,
                       const torch::Tensor& context) override;

 private:
  ConsiStoryOptions options_;
  std::map<int, torch::Tensor> masks_;
  bool recording_ = false;
  std::map<int, torch::Tensor> vanilla_queries_;  // by LayerId::call_index
};

// One recorded attention map: softmax(q kᵀ/√d) averaged over heads, [R, N, M] (cross:
// M = context tokens; self: M = N).
struct RecordedMap {
  LayerId layer;
  int step = 0;
  int height = 0;
  int width = 0;
  torch::Tensor probabilities;
  std::vector<int> rows;  // the batch rows held, in order; empty: every row of the batch
};

// Self-attention recording (for masks refined through self-attention, masks.h). Off by
// default: it holds N² floats per kept row, layer and step (16x16: 256 KiB per row).
struct SelfAttentionRecording {
  bool enabled = false;
  std::vector<int> rows;  // batch rows to keep (empty: all)
};

// Wraps another processor; on cross-attention calls at the chosen resolutions (height,
// width; empty = all) it records the head-averaged probability maps, then delegates. With
// self-attention recording on, self-attention calls at those resolutions are recorded too
// (self_maps(), only the chosen rows).
class AttentionRecorder : public Processor {
 public:
  AttentionRecorder(std::shared_ptr<Processor> inner, std::set<std::pair<int, int>> resolutions = {},
                    SelfAttentionRecording self_attention = {});
  const std::vector<RecordedMap>& maps() const { return maps_; }
  const std::vector<RecordedMap>& self_maps() const { return self_maps_; }
  void clear() {
    maps_.clear();
    self_maps_.clear();
  }
  torch::Tensor attend(const AttentionCall& call, const AttentionLayer& layer, const torch::Tensor& hidden,
                       const torch::Tensor& context) override;

 private:
  std::shared_ptr<Processor> inner_;
  std::set<std::pair<int, int>> resolutions_;
  SelfAttentionRecording self_attention_;
  std::vector<RecordedMap> maps_;
  std::vector<RecordedMap> self_maps_;
};

// [N, C] → [H, N, d] and back.
torch::Tensor split_heads(const torch::Tensor& x, int heads);
torch::Tensor merge_heads(const torch::Tensor& x);

}  // namespace dsbench::attention
