#include "pipeline/attention/kernels.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "core/errors.h"

namespace dsbench::attention {
namespace {

constexpr std::int64_t kFloatBytes = 4;

void require(bool condition, const std::string& field, const std::string& expected) {
  if (!condition) throw core::InputError(core::Location{"", 0, field}, expected);
}

std::string shape_of(const torch::Tensor& t) {
  std::string text = "[";
  for (std::int64_t i = 0; i < t.dim(); ++i) text += (i ? ", " : "") + std::to_string(t.size(i));
  return text + "]";
}

void check_mmsa_inputs(const torch::Tensor& q, const torch::Tensor& scene_k, const torch::Tensor& scene_v,
                       const torch::Tensor& portrait_k, const torch::Tensor& portrait_v,
                       const torch::Tensor& target_mask, const torch::Tensor& source_mask) {
  require(q.dim() == 3, "mmsa.q", "[H, N, d], got " + shape_of(q));
  require(scene_k.sizes() == q.sizes() && scene_v.sizes() == q.sizes(), "mmsa.scene_k/v",
          "the shape of q " + shape_of(q) + ", got " + shape_of(scene_k) + " and " + shape_of(scene_v));
  require(portrait_k.dim() == 4 && portrait_k.size(1) == q.size(0) && portrait_k.size(3) == q.size(2) &&
              portrait_v.sizes() == portrait_k.sizes(),
          "mmsa.portrait_k/v", "[S, H, N_p, d] with H, d of q, got " + shape_of(portrait_k) + " and " +
                                   shape_of(portrait_v));
  const auto subjects = portrait_k.size(0);
  require(target_mask.scalar_type() == torch::kBool && target_mask.dim() == 2 &&
              target_mask.size(0) == subjects && target_mask.size(1) == q.size(1),
          "mmsa.target_mask", "bool [S, N], got " + shape_of(target_mask));
  require(source_mask.scalar_type() == torch::kBool && source_mask.dim() == 2 &&
              source_mask.size(0) == subjects && source_mask.size(1) == portrait_k.size(2),
          "mmsa.source_mask", "bool [S, N_p], got " + shape_of(source_mask));
}

void check_mmca_inputs(const torch::Tensor& q, const torch::Tensor& text_k, const torch::Tensor& text_v,
                       const torch::Tensor& target_mask) {
  require(q.dim() == 3, "mmca.q", "[H, N, d], got " + shape_of(q));
  require(text_k.dim() == 4 && text_k.size(1) == q.size(0) && text_k.size(3) == q.size(2) &&
              text_v.sizes() == text_k.sizes(),
          "mmca.text_k/v", "[S, H, M, d] with H, d of q, got " + shape_of(text_k) + " and " + shape_of(text_v));
  require(target_mask.scalar_type() == torch::kBool && target_mask.dim() == 2 &&
              target_mask.size(0) == text_k.size(0) && target_mask.size(1) == q.size(1),
          "mmca.target_mask", "bool [S, N], got " + shape_of(target_mask));
}

double softmax_scale(const torch::Tensor& q) { return 1.0 / std::sqrt(static_cast<double>(q.size(-1))); }

// Flash-attention style running state of a softmax over keys seen so far, per query row.
struct OnlineSoftmax {
  torch::Tensor max;  // [H, n, 1]
  torch::Tensor sum;  // [H, n, 1]
  torch::Tensor acc;  // [H, n, d], unnormalised Σ exp(logit − max) v

  static OnlineSoftmax empty(std::int64_t heads, std::int64_t rows, std::int64_t head_dim,
                             const torch::TensorOptions& options) {
    return {torch::full({heads, rows, 1}, -std::numeric_limits<float>::infinity(), options),
            torch::zeros({heads, rows, 1}, options), torch::zeros({heads, rows, head_dim}, options)};
  }
  OnlineSoftmax rows(std::int64_t start, std::int64_t length) const {
    return {max.narrow(1, start, length), sum.narrow(1, start, length), acc.narrow(1, start, length)};
  }
  OnlineSoftmax gather(const torch::Tensor& index) const {
    return {max.index_select(1, index), sum.index_select(1, index), acc.index_select(1, index)};
  }
  void scatter(const torch::Tensor& index, const OnlineSoftmax& part) {
    max.index_copy_(1, index, part.max);
    sum.index_copy_(1, index, part.sum);
    acc.index_copy_(1, index, part.acc);
  }
  torch::Tensor result() const { return acc / sum; }
};

// Folds one key block into the state. `scaled_q` already carries 1/√d. Every update is
// in place on `state`'s (possibly narrowed) views.
void absorb(OnlineSoftmax& state, const torch::Tensor& scaled_q, const torch::Tensor& k, const torch::Tensor& v) {
  auto probabilities = torch::bmm(scaled_q, k.transpose(1, 2));
  const auto new_max = torch::maximum(state.max, std::get<0>(probabilities.max(-1, true)));
  probabilities.sub_(new_max).exp_();
  const auto correction = (state.max - new_max).exp_();
  state.sum.mul_(correction).add_(probabilities.sum(-1, true));
  state.acc.mul_(correction).baddbmm_(probabilities, v);
  state.max.copy_(new_max);
}

// Runs `scaled_q`'s rows over all of `keys`/`values` ([H, K, d]) in query × key blocks.
void absorb_all(OnlineSoftmax& state, const torch::Tensor& scaled_q, const torch::Tensor& keys,
                const torch::Tensor& values, const GroupedOptions& options) {
  const auto rows = scaled_q.size(1);
  const auto length = keys.size(1);
  for (std::int64_t q0 = 0; q0 < rows; q0 += options.query_block) {
    const auto q_rows = std::min(options.query_block, rows - q0);
    auto part = state.rows(q0, q_rows);
    const auto q_block = scaled_q.narrow(1, q0, q_rows);
    for (std::int64_t k0 = 0; k0 < length; k0 += options.key_block) {
      const auto k_rows = std::min(options.key_block, length - k0);
      absorb(part, q_block, keys.narrow(1, k0, k_rows), values.narrow(1, k0, k_rows));
    }
  }
}

// One int64 per scene token: bit s set iff subject s covers it.
torch::Tensor coverage_codes(const torch::Tensor& target_mask) {
  const auto subjects = target_mask.size(0);
  require(subjects <= 62, "mmsa.target_mask", "at most 62 subjects, got " + std::to_string(subjects));
  const auto bits = torch::pow(torch::full({subjects, 1}, 2, torch::kLong), torch::arange(subjects, torch::kLong).unsqueeze(1));
  return (target_mask.to(torch::kLong) * bits).sum(0);
}

std::vector<std::int64_t> distinct_nonzero_codes(const torch::Tensor& codes) {
  const auto unique = std::get<0>(torch::_unique(codes, /*sorted=*/true));
  std::vector<std::int64_t> out;
  const auto* data = unique.data_ptr<std::int64_t>();
  for (std::int64_t i = 0; i < unique.numel(); ++i)
    if (data[i] != 0) out.push_back(data[i]);
  return out;
}

torch::Tensor indices_of(const torch::Tensor& mask) { return torch::nonzero(mask).squeeze(1); }

}  // namespace

torch::Tensor mmsa_dense(const torch::Tensor& q, const torch::Tensor& scene_k, const torch::Tensor& scene_v,
                         const torch::Tensor& portrait_k, const torch::Tensor& portrait_v,
                         const torch::Tensor& target_mask, const torch::Tensor& source_mask) {
  check_mmsa_inputs(q, scene_k, scene_v, portrait_k, portrait_v, target_mask, source_mask);
  const auto heads = q.size(0);
  const auto tokens = q.size(1);
  const auto subjects = portrait_k.size(0);
  const auto portrait_tokens = portrait_k.size(2);
  const auto head_dim = q.size(2);
  // Keys laid out as the reference does: [scene | portrait_1 | … | portrait_S].
  const auto flat = [&](const torch::Tensor& x) {
    return x.permute({1, 0, 2, 3}).reshape({heads, subjects * portrait_tokens, head_dim});
  };
  const auto keys = torch::cat({scene_k, flat(portrait_k)}, 1);
  const auto values = torch::cat({scene_v, flat(portrait_v)}, 1);
  const auto portrait_allowed =
      (target_mask.t().unsqueeze(2) & source_mask.unsqueeze(0)).reshape({tokens, subjects * portrait_tokens});
  const auto allowed = torch::cat({torch::ones({tokens, tokens}, torch::kBool), portrait_allowed}, 1);
  auto logits = torch::bmm(q * softmax_scale(q), keys.transpose(1, 2));
  logits.masked_fill_(allowed.logical_not().unsqueeze(0), -std::numeric_limits<float>::infinity());
  return torch::bmm(torch::softmax(logits, -1), values);
}

torch::Tensor mmsa_grouped(const torch::Tensor& q, const torch::Tensor& scene_k, const torch::Tensor& scene_v,
                           const torch::Tensor& portrait_k, const torch::Tensor& portrait_v,
                           const torch::Tensor& target_mask, const torch::Tensor& source_mask,
                           const GroupedOptions& options) {
  check_mmsa_inputs(q, scene_k, scene_v, portrait_k, portrait_v, target_mask, source_mask);
  require(options.key_block > 0 && options.query_block > 0, "mmsa.options", "positive block sizes");
  const auto scaled_q = q * softmax_scale(q);
  auto state = OnlineSoftmax::empty(q.size(0), q.size(1), q.size(2), q.options());
  // Every query sees the whole scene: one pass with full-width GEMMs.
  absorb_all(state, scaled_q, scene_k, scene_v, options);

  const auto subjects = portrait_k.size(0);
  std::vector<torch::Tensor> subject_k;
  std::vector<torch::Tensor> subject_v;
  for (std::int64_t s = 0; s < subjects; ++s) {
    const auto allowed = indices_of(source_mask[s]);
    subject_k.push_back(portrait_k[s].index_select(1, allowed));
    subject_v.push_back(portrait_v[s].index_select(1, allowed));
  }
  const auto codes = coverage_codes(target_mask);
  for (const auto code : distinct_nonzero_codes(codes)) {
    const auto rows = indices_of(codes == code);
    auto group = state.gather(rows);
    const auto group_q = scaled_q.index_select(1, rows);
    for (std::int64_t s = 0; s < subjects; ++s) {
      if (((code >> s) & 1) == 0 || subject_k[s].size(1) == 0) continue;
      absorb_all(group, group_q, subject_k[s], subject_v[s], options);
    }
    state.scatter(rows, group);
  }
  return state.result();
}

torch::Tensor mmca_dense(const torch::Tensor& q, const torch::Tensor& text_k, const torch::Tensor& text_v,
                         const torch::Tensor& target_mask) {
  check_mmca_inputs(q, text_k, text_v, target_mask);
  const auto logits = torch::matmul(q.unsqueeze(0) * softmax_scale(q), text_k.transpose(-1, -2));
  const auto per_subject = torch::matmul(torch::softmax(logits, -1), text_v);  // [S, H, N, d]
  const auto weights = target_mask.to(q.scalar_type()).unsqueeze(1).unsqueeze(3);  // [S, 1, N, 1]
  const auto total = (per_subject * weights).sum(0);
  const auto count = weights.sum(0).clamp_min(1.0);
  return total / count;
}

torch::Tensor mmca_grouped(const torch::Tensor& q, const torch::Tensor& text_k, const torch::Tensor& text_v,
                           const torch::Tensor& target_mask) {
  check_mmca_inputs(q, text_k, text_v, target_mask);
  const auto scaled_q = q * softmax_scale(q);
  auto total = torch::zeros_like(q);
  for (std::int64_t s = 0; s < text_k.size(0); ++s) {
    const auto rows = indices_of(target_mask[s]);
    if (rows.numel() == 0) continue;
    const auto logits = torch::bmm(scaled_q.index_select(1, rows), text_k[s].transpose(1, 2));
    total.index_add_(1, rows, torch::bmm(torch::softmax(logits, -1), text_v[s]));
  }
  const auto count = target_mask.sum(0).clamp_min(1).to(q.scalar_type()).view({1, -1, 1});
  return total / count;
}

torch::Tensor mmca_blend(const torch::Tensor& vanilla, const torch::Tensor& mmca, const torch::Tensor& target_mask,
                         double lambda) {
  require(vanilla.sizes() == mmca.sizes() && vanilla.dim() == 2, "mmca_blend",
          "vanilla and mmca of the same [N, C] shape, got " + shape_of(vanilla) + " and " + shape_of(mmca));
  require(target_mask.dim() == 2 && target_mask.size(1) == vanilla.size(0), "mmca_blend.target_mask",
          "bool [S, N], got " + shape_of(target_mask));
  const auto covered = target_mask.any(0).unsqueeze(1);
  return torch::where(covered, vanilla * (1.0 - lambda) + mmca * lambda, vanilla);
}

torch::Tensor plain_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v) {
  const auto logits = torch::bmm(q * softmax_scale(q), k.transpose(1, 2));
  return torch::bmm(torch::softmax(logits, -1), v);
}

torch::Tensor resize_mask(const torch::Tensor& mask, std::int64_t height, std::int64_t width) {
  require(mask.dim() == 2, "mask", "a 2-D [H, W] mask image, got " + shape_of(mask));
  require(height > 0 && width > 0, "mask.size", "a positive layer size");
  namespace F = torch::nn::functional;
  const auto resized = F::interpolate(mask.to(torch::kFloat32).unsqueeze(0).unsqueeze(0),
                                      F::InterpolateFuncOptions()
                                          .size(std::vector<std::int64_t>{height, width})
                                          .mode(torch::kBilinear)
                                          .align_corners(false));
  return resized.flatten().ge(0.5);
}

torch::Tensor drop_mask_tokens(const torch::Tensor& mask, double p, std::uint64_t seed) {
  require(mask.scalar_type() == torch::kBool && mask.dim() == 1, "mask", "bool [n], got " + shape_of(mask));
  require(p >= 0.0 && p <= 1.0, "dropout", "a probability in [0, 1], got " + std::to_string(p));
  if (p == 0.0) return mask;
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  const auto keep = torch::bernoulli(torch::full({mask.size(0)}, 1.0 - p, torch::kFloat64), generator).to(torch::kBool);
  const auto kept = mask & keep;
  return kept.any().item<bool>() ? kept : mask;
}

double mmsa_useful_flops(std::int64_t heads, std::int64_t head_dim, const torch::Tensor& target_mask,
                         const torch::Tensor& source_mask, std::int64_t scene_tokens) {
  const auto target = target_mask.sum(1).to(torch::kFloat64);
  const auto source = source_mask.sum(1).to(torch::kFloat64);
  const double pairs = static_cast<double>(scene_tokens) * static_cast<double>(scene_tokens) +
                       (target * source).sum().item<double>();
  return 4.0 * static_cast<double>(head_dim) * static_cast<double>(heads) * pairs;
}

double mmca_useful_flops(std::int64_t heads, std::int64_t head_dim, std::int64_t text_tokens,
                         const torch::Tensor& target_mask) {
  const double pairs = target_mask.sum().item<double>();
  return 4.0 * static_cast<double>(head_dim) * static_cast<double>(heads) * static_cast<double>(text_tokens) * pairs;
}

std::int64_t mmsa_dense_scratch_bytes(std::int64_t heads, std::int64_t scene_tokens, std::int64_t subjects,
                                      std::int64_t portrait_tokens, std::int64_t head_dim) {
  const auto keys = scene_tokens + subjects * portrait_tokens;
  const auto logits = heads * scene_tokens * keys * kFloatBytes;  // logits, then the softmax copy
  const auto key_values = 2 * heads * keys * head_dim * kFloatBytes;
  const auto allowed = 2 * scene_tokens * keys;  // bool mask and its negation
  const auto scaled_q = heads * scene_tokens * head_dim * kFloatBytes;
  return 2 * logits + key_values + allowed + scaled_q;
}

std::int64_t mmsa_grouped_scratch_bytes(std::int64_t heads, std::int64_t head_dim, const torch::Tensor& target_mask,
                                        const torch::Tensor& source_mask, std::int64_t scene_tokens,
                                        const GroupedOptions& options) {
  const auto state = heads * scene_tokens * (head_dim + 2) * kFloatBytes;
  const auto scaled_q = heads * scene_tokens * head_dim * kFloatBytes;
  const auto gathered_portraits = 2 * heads * source_mask.sum().item<std::int64_t>() * head_dim * kFloatBytes;
  std::int64_t largest_group = 0;
  const auto codes = coverage_codes(target_mask);
  for (const auto code : distinct_nonzero_codes(codes))
    largest_group = std::max(largest_group, (codes == code).sum().item<std::int64_t>());
  // A group's gathered queries and state, gathered and scattered back.
  const auto group = heads * largest_group * (2 * head_dim + 2) * kFloatBytes;
  const auto block = 2 * heads * std::min(options.query_block, scene_tokens) * options.key_block * kFloatBytes;
  return state + scaled_q + gathered_portraits + group + block;
}

std::int64_t mmca_dense_scratch_bytes(std::int64_t heads, std::int64_t scene_tokens, std::int64_t subjects,
                                      std::int64_t text_tokens, std::int64_t head_dim) {
  const auto logits = subjects * heads * scene_tokens * text_tokens * kFloatBytes;
  const auto per_subject = subjects * heads * scene_tokens * head_dim * kFloatBytes;
  return 2 * logits + 2 * per_subject + heads * scene_tokens * head_dim * kFloatBytes;
}

std::int64_t mmca_grouped_scratch_bytes(std::int64_t heads, std::int64_t head_dim, std::int64_t text_tokens,
                                        const torch::Tensor& target_mask) {
  const auto largest = target_mask.sum(1).max().item<std::int64_t>();
  const auto tokens = target_mask.size(1);
  return heads * tokens * head_dim * kFloatBytes * 2 +                  // scaled q, total
         heads * largest * (2 * text_tokens + 2 * head_dim) * kFloatBytes;  // one subject's block
}

}  // namespace dsbench::attention
