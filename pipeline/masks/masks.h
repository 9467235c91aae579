// Subject masks for DreamStory's MSD (dreamstory-method.md, "Masks"): where each subject
// is in an image. A mask is a bool tensor [H, W]; a mask set holds one per subject, in
// subject order, never overlapping (a pixel belongs to at most one subject).
//
// Sources: MaskProvider (the seam for a detector/segmenter such as GroundingDINO+SAM; MSD
// only ever sees the masks), masks from recorded cross-attention maps (the reference's
// fallback) and imported files (a PNG per subject, or a COCO-style JSON with RLE or boxes).
#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <string>
#include <vector>

#include "core/image.h"
#include "pipeline/attention/processors.h"

namespace dsbench::masks {

// A detector/segmenter: one mask [H, W] (image size) per keyword (the subjects' class
// words), empty (all false) when the subject is not found.
class MaskProvider {
 public:
  virtual ~MaskProvider() = default;
  virtual std::vector<torch::Tensor> masks(const core::Image& image, const std::vector<std::string>& keywords) = 0;
};

// How a map is carried through self-attention A (rows: queries, each summing to 1) in
// DreamStory's fallback masks (hehuiguo/DreamStory, attention_processor/
// DreamStoryAttnProcessor.py, DreamStoryAttnProcessor.self_cross_attn_sum_cg with
// exponent_N = N, called per cross-attention layer on the scene row's head-averaged self-
// and cross-attention of the same transformer block): the map becomes S(A)·m / N.
// - kReleased: S as the released code computes it. Its running sum is the self-attention
//   tensor itself, updated in place, so each new power is multiplied by the sum so far:
//   total = A, power = A; N − 1 times: power = power·total, total += power. For N = 4
//   S = A + A² + A³ + 2A⁴ + 2A⁵ + 2A⁶ + 2A⁷ + A⁸ (degree 2^(N−1)).
// - kPowerMean: S = A + A² + … + A^N, the sum its comment ("sa^n * ca") describes.
enum class SelfAttentionSeries { kReleased, kPowerMean };

struct AttentionMaskOptions {
  int height = 64;            // output mask size (usually the image size)
  int width = 64;
  int background_token = 0;   // the start token stands for the background
  double background_weight = 1.0;  // scales the background map before the arg-max
  int morphology_kernel = 3;  // open then close with an ellipse of this size (0: none)
  double min_area = 0.02;     // a non-empty mask smaller than this fraction of the image is
                              // dilated until it reaches it (bounded)
  int max_expansions = 8;
  // Each map (background and subjects) is multiplied through the self-attention of its
  // layer, step and row before resizing and normalisation: N passes of `series` (0: off,
  // the cross-attention maps alone; the reference uses 4; at most kMaxSelfAttentionPasses).
  int self_attention_passes = 0;
  SelfAttentionSeries self_attention_series = SelfAttentionSeries::kReleased;
};

inline constexpr int kMaxSelfAttentionPasses = 8;

// Masks from cross-attention maps recorded by attention::AttentionRecorder: for the batch
// row `row`, each subject's map is the mean over its token positions (in the prompt that
// row was conditioned on) of the maps, averaged over layers and steps after bilinear resize
// to the output size; every map (subjects and background) is min-max normalised, each
// pixel goes to the arg-max among background and subjects; then per subject morphology
// clean-up and small-mask expansion, and overlaps removed (the higher normalised score
// keeps a contested pixel). RunError if no map was recorded or a token is out of range.
// With options.self_attention_passes > 0 every cross-attention map is first carried through
// the self-attention map of the same step, transformer block, resolution and row from
// `self_maps` (AttentionRecorder::self_maps(); the k-th cross map of a block pairs with its
// k-th self map); RunError naming the layer, step or row when that self map is missing.
std::vector<torch::Tensor> masks_from_attention(const std::vector<attention::RecordedMap>& maps, int row,
                                                const std::vector<std::vector<int>>& subject_tokens,
                                                const AttentionMaskOptions& options = {},
                                                const std::vector<attention::RecordedMap>& self_maps = {});

// maps [K, N] carried through self-attention [N, N]: (S(A)·mᵀ)ᵀ / passes for each row m
// (SelfAttentionSeries); float result. RunError on mismatched shapes, InputError if passes
// is outside 1..kMaxSelfAttentionPasses.
torch::Tensor refine_through_self_attention(const torch::Tensor& self_attention, const torch::Tensor& maps, int passes,
                                            SelfAttentionSeries series = SelfAttentionSeries::kReleased);

// The same from already aggregated score maps: scores [S + 1, H, W], row 0 the background.
std::vector<torch::Tensor> masks_from_scores(const torch::Tensor& scores, const AttentionMaskOptions& options = {});

// Token positions of `phrase_tokens` (no start/end token) inside `prompt_tokens` (with the
// start token at 0): every occurrence; empty if absent.
std::vector<int> find_token_positions(const std::vector<int>& prompt_tokens, const std::vector<int>& phrase_tokens);

// Each mask keeps only pixels no earlier mask has (masks in priority order).
std::vector<torch::Tensor> remove_overlaps(const std::vector<torch::Tensor>& masks);

// Zeroes the bottom `fraction` of the rows (the reference zeroes a portrait mask's bottom sixth).
torch::Tensor zero_bottom(const torch::Tensor& mask, double fraction = 1.0 / 6.0);

// Mask ↔ 1-channel image (255 inside, 0 outside; reading: > 127 inside, RGB averaged).
core::Image mask_to_image(const torch::Tensor& mask);
torch::Tensor image_to_mask(const core::Image& image);
// Resize with nearest neighbour (masks stay binary).
torch::Tensor resize_mask(const torch::Tensor& mask, int height, int width);

// A PNG (or any image) per subject; InputError naming the file if unreadable or its size
// differs from height × width.
torch::Tensor read_mask_png(const std::filesystem::path& path, int height, int width);

// COCO-style JSON: {"masks": [{"subject": "<name>", "segmentation": {"size": [h, w],
// "counts": [runs...] | "<compressed RLE string>"}} | {"subject": "<name>", "bbox":
// [x, y, width, height]}, ...]} (several entries of one subject are united). Returns one
// mask per name in `subjects` (all false for a subject without entries). InputError
// naming the file and the field (e.g. "masks[2].segmentation.size") for anything malformed
// or an unknown subject.
std::vector<torch::Tensor> read_masks_json(const std::filesystem::path& path, const std::vector<std::string>& subjects,
                                           int height, int width);

// COCO RLE (column-major runs, starting with background) → mask [h, w]; the compressed
// string form as pycocotools writes it. InputError (field `field`) if the runs do not sum to h·w.
torch::Tensor decode_rle(const std::vector<std::int64_t>& counts, int height, int width, const std::string& field = "counts");
std::vector<std::int64_t> decode_rle_string(const std::string& counts, const std::string& field = "counts");

}  // namespace dsbench::masks
