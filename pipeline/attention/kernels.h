// MMSA and MMCA (DreamStory's multi-subject attention) as pure kernels on per-head
// tensors, each as a dense masked reference and a grouped kernel that never forms a
// masked-out logit. Shapes (H heads, N scene tokens, S subjects, N_p portrait tokens,
// M text tokens, d head dim):
//   q, scene_k, scene_v          [H, N, d]
//   portrait_k, portrait_v       [S, H, N_p, d]
//   text_k, text_v               [S, H, M, d]   (each subject's portrait prompt)
//   target_mask                  bool [S, N]    scene query q lies inside subject s
//   source_mask                  bool [S, N_p]  portrait key k lies inside subject s
// See /work/shared/spec/dreamstory-method.md for the maths.
#pragma once

#include <torch/torch.h>

#include <cstdint>

namespace dsbench::attention {

// MMSA, dense: the N × N(S+1) logits with −inf where masked (scene keys always allowed;
// portrait s key k allowed iff source_mask[s][k] && target_mask[s][q]), softmax, @V.
// Returns [H, N, d]. Peak scratch grows as H·N·N(S+1).
torch::Tensor mmsa_dense(const torch::Tensor& q, const torch::Tensor& scene_k,
                         const torch::Tensor& scene_v, const torch::Tensor& portrait_k,
                         const torch::Tensor& portrait_v, const torch::Tensor& target_mask,
                         const torch::Tensor& source_mask);

struct GroupedOptions {
  std::int64_t key_block = 512;     // keys per online-softmax step
  std::int64_t query_block = 1024;  // queries per step (bounds the logits block)
};

// MMSA, grouped: every query first runs a blocked online softmax over the scene keys;
// then queries are grouped by the exact set of subjects covering them (a bitmask, so at
// most 63 subjects) and each group continues over only its subjects' allowed portrait
// keys. Same result as mmsa_dense (to float rounding); scratch is O(N·d + blocks).
torch::Tensor mmsa_grouped(const torch::Tensor& q, const torch::Tensor& scene_k,
                           const torch::Tensor& scene_v, const torch::Tensor& portrait_k,
                           const torch::Tensor& portrait_v, const torch::Tensor& target_mask,
                           const torch::Tensor& source_mask, const GroupedOptions& options = {});

// MMCA before the output projection: for every scene row inside at least one subject's
// target mask, the mean over the covering subjects s of softmax(q k_sᵀ/√d) v_s; rows
// outside every mask are zero. Returns [H, N, d]. Because the output projection is
// affine and the mean is a convex combination, projecting this equals the mean of the
// projected per-subject outputs, which is what the reference computes.
// Dense computes every subject on every row and masks; grouped computes each subject
// only on its own rows.
torch::Tensor mmca_dense(const torch::Tensor& q, const torch::Tensor& text_k,
                         const torch::Tensor& text_v, const torch::Tensor& target_mask);
torch::Tensor mmca_grouped(const torch::Tensor& q, const torch::Tensor& text_k,
                           const torch::Tensor& text_v, const torch::Tensor& target_mask);

// The MMCA blend on projected outputs [N, C]: inside the union of target masks
// (1−λ)·vanilla + λ·mmca, outside vanilla.
torch::Tensor mmca_blend(const torch::Tensor& vanilla, const torch::Tensor& mmca,
                         const torch::Tensor& target_mask, double lambda);

// Plain attention softmax(q kᵀ/√d) v on [H, N, d] tensors (the roofline reference).
torch::Tensor plain_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v);

// ---- Masks -------------------------------------------------------------------------
// Resizes a mask image [H, W] (bool or float in [0, 1]) to a layer's h × w: bilinear
// (half-pixel centres, as torch's interpolate without align_corners), then ≥ 0.5.
// Returns bool [h·w] in row-major token order.
torch::Tensor resize_mask(const torch::Tensor& mask, std::int64_t height, std::int64_t width);

// Mask-token dropout: each true entry of `mask` (bool [n]) is kept with probability
// 1 − p, drawn from `seed` alone (deterministic). If every true entry would be dropped,
// the mask is returned unchanged (the reference restores it the same way).
torch::Tensor drop_mask_tokens(const torch::Tensor& mask, double p, std::uint64_t seed);

// ---- Work and scratch accounting (for benchmarks) ----------------------------------
// "Useful FLOPs" of MMSA: for every query, the QKᵀ and PV work of its allowed keys only,
// 4·d FLOPs per allowed (query, key) pair, times H. Both kernels are measured against it.
double mmsa_useful_flops(std::int64_t heads, std::int64_t head_dim, const torch::Tensor& target_mask,
                         const torch::Tensor& source_mask, std::int64_t scene_tokens);
// Same for MMCA: 4·d·M per (covered row, covering subject) pair, times H.
double mmca_useful_flops(std::int64_t heads, std::int64_t head_dim, std::int64_t text_tokens,
                         const torch::Tensor& target_mask);
// Peak bytes the kernels allocate beyond their inputs and output, computed from their
// allocations (float32).
std::int64_t mmsa_dense_scratch_bytes(std::int64_t heads, std::int64_t scene_tokens,
                                      std::int64_t subjects, std::int64_t portrait_tokens,
                                      std::int64_t head_dim);
std::int64_t mmsa_grouped_scratch_bytes(std::int64_t heads, std::int64_t head_dim,
                                        const torch::Tensor& target_mask,
                                        const torch::Tensor& source_mask, std::int64_t scene_tokens,
                                        const GroupedOptions& options = {});
std::int64_t mmca_dense_scratch_bytes(std::int64_t heads, std::int64_t scene_tokens,
                                      std::int64_t subjects, std::int64_t text_tokens,
                                      std::int64_t head_dim);
std::int64_t mmca_grouped_scratch_bytes(std::int64_t heads, std::int64_t head_dim,
                                        std::int64_t text_tokens, const torch::Tensor& target_mask);

}  // namespace dsbench::attention
