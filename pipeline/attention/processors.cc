#include "pipeline/attention/processors.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <string>

#include "core/errors.h"

namespace dsbench::attention {
namespace {

// splitmix64 finaliser: decorrelates the per-(step, layer, subject) seeds.
std::uint64_t mix(std::uint64_t a, std::uint64_t b) {
  std::uint64_t z = a + 0x9E3779B97F4A7C15ULL * (b + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

std::vector<BatchRow> rows_of(const AttentionCall& call, std::int64_t batch) {
  if (call.step == nullptr || call.step->rows.empty()) return {};
  if (static_cast<std::int64_t>(call.step->rows.size()) != batch) {
    throw core::RunError("attention: StepInfo lists " + std::to_string(call.step->rows.size()) +
                         " rows but the batch has " + std::to_string(batch) + " (layer " + call.layer.name + ")");
  }
  return call.step->rows;
}

// The portrait rows sharing a scene row's CFG half, in batch order.
std::vector<std::int64_t> portrait_rows(const std::vector<BatchRow>& rows, bool conditional) {
  std::vector<std::int64_t> out;
  for (std::size_t i = 0; i < rows.size(); ++i)
    if (rows[i].role == RowRole::kPortrait && rows[i].conditional == conditional) out.push_back(static_cast<std::int64_t>(i));
  return out;
}

std::vector<std::int64_t> rows_in_half(const std::vector<BatchRow>& rows, std::int64_t batch, bool conditional) {
  std::vector<std::int64_t> out;
  for (std::int64_t i = 0; i < batch; ++i)
    if (rows.empty() || rows[static_cast<std::size_t>(i)].conditional == conditional) out.push_back(i);
  return out;
}

torch::Tensor stack_heads(const torch::Tensor& x, const std::vector<std::int64_t>& rows, int heads) {
  std::vector<torch::Tensor> parts;
  for (const auto r : rows) parts.push_back(split_heads(x[r], heads));
  return torch::stack(parts);
}

torch::Tensor indices_of(const torch::Tensor& mask) { return torch::nonzero(mask).squeeze(1); }

int step_of(const AttentionCall& call) { return call.step != nullptr ? call.step->step : 0; }

}  // namespace

torch::Tensor split_heads(const torch::Tensor& x, int heads) {
  return x.view({x.size(0), heads, x.size(1) / heads}).transpose(0, 1);
}

torch::Tensor merge_heads(const torch::Tensor& x) {
  return x.transpose(0, 1).reshape({x.size(1), x.size(0) * x.size(2)});
}

// ---- MSD ----------------------------------------------------------------------------

MsdProcessor::MsdProcessor(MsdOptions options) : options_(options) {
  if (options_.dropout < 0.0 || options_.dropout > 1.0) {
    throw core::InputError(core::Location{"", 0, "msd.dropout"}, "a probability in [0, 1]");
  }
  if (options_.lambda < 0.0 || options_.lambda > 1.0) {
    throw core::InputError(core::Location{"", 0, "msd.lambda"}, "a weight in [0, 1]");
  }
}

void MsdProcessor::set_masks(std::map<int, SubjectMasks> masks) { masks_ = std::move(masks); }

MsdProcessor::LayerMasks MsdProcessor::layer_masks(const std::vector<int>& subjects, const AttentionCall& call) const {
  const std::int64_t tokens = static_cast<std::int64_t>(call.height) * call.width;
  const auto count = static_cast<std::int64_t>(subjects.size());
  if (!options_.use_masks) {
    const auto all = torch::ones({count, tokens}, torch::kBool);
    return {all, all, all};
  }
  std::vector<torch::Tensor> target, source, undropped;
  for (const int subject : subjects) {
    const auto found = masks_.find(subject);
    if (found == masks_.end() || !found->second.source.defined() || !found->second.target.defined()) {
      throw core::RunError("MSD: no source/target mask for subject " + std::to_string(subject) +
                           " (set_masks before the final pass)");
    }
    const auto t = resize_mask(found->second.target, call.height, call.width);
    const auto s = resize_mask(found->second.source, call.height, call.width);
    // One draw per (step, layer size, subject), shared by source and target as in the reference.
    const auto seed = mix(mix(mix(options_.seed, static_cast<std::uint64_t>(step_of(call))),
                              static_cast<std::uint64_t>(tokens)),
                          static_cast<std::uint64_t>(subject));
    target.push_back(drop_mask_tokens(t, options_.dropout, seed));
    source.push_back(drop_mask_tokens(s, options_.dropout, seed));
    undropped.push_back(t);
  }
  return {torch::stack(target), torch::stack(source), torch::stack(undropped)};
}

torch::Tensor MsdProcessor::attend(const AttentionCall& call, const AttentionLayer& layer, const torch::Tensor& hidden,
                                   const torch::Tensor& context) {
  return call.kind == AttentionKind::kSelf ? self_attention(call, layer, hidden)
                                           : cross_attention(call, layer, hidden, context);
}

torch::Tensor MsdProcessor::self_attention(const AttentionCall& call, const AttentionLayer& layer,
                                           const torch::Tensor& hidden) {
  const auto q = layer.query(hidden);
  const auto k = layer.key(hidden);
  const auto v = layer.value(hidden);
  auto out = multi_head_attention(q, k, v, layer.heads);
  const auto rows = rows_of(call, hidden.size(0));
  const bool active = options_.enable_mmsa && step_of(call) >= options_.start_step &&
                      call.layer.call_index / 2 >= options_.start_layer;
  if (!active || rows.empty()) return layer.output(out);
  for (std::size_t r = 0; r < rows.size(); ++r) {
    if (rows[r].role != RowRole::kScene) continue;
    const auto portraits = portrait_rows(rows, rows[r].conditional);
    if (portraits.empty()) continue;
    std::vector<int> subjects;
    for (const auto p : portraits) subjects.push_back(rows[static_cast<std::size_t>(p)].subject);
    const auto masks = layer_masks(subjects, call);
    const auto row = static_cast<std::int64_t>(r);
    const auto qh = split_heads(q[row], layer.heads);
    const auto kh = split_heads(k[row], layer.heads);
    const auto vh = split_heads(v[row], layer.heads);
    const auto pk = stack_heads(k, portraits, layer.heads);
    const auto pv = stack_heads(v, portraits, layer.heads);
    const auto mixed = options_.kernel == KernelChoice::kDense
                           ? mmsa_dense(qh, kh, vh, pk, pv, masks.target, masks.source)
                           : mmsa_grouped(qh, kh, vh, pk, pv, masks.target, masks.source);
    out[row].copy_(merge_heads(mixed));
  }
  return layer.output(out);
}

torch::Tensor MsdProcessor::cross_attention(const AttentionCall& call, const AttentionLayer& layer,
                                            const torch::Tensor& hidden, const torch::Tensor& context) {
  const auto q = layer.query(hidden);
  const auto k = layer.key(context);
  const auto v = layer.value(context);
  auto out = layer.output(multi_head_attention(q, k, v, layer.heads));
  const auto rows = rows_of(call, hidden.size(0));
  if (!options_.enable_mmca || rows.empty()) return out;
  for (std::size_t r = 0; r < rows.size(); ++r) {
    if (rows[r].role != RowRole::kScene) continue;
    const auto portraits = portrait_rows(rows, rows[r].conditional);
    if (portraits.empty()) continue;
    std::vector<int> subjects;
    for (const auto p : portraits) subjects.push_back(rows[static_cast<std::size_t>(p)].subject);
    const auto target = layer_masks(subjects, call).target_undropped;
    const auto row = static_cast<std::int64_t>(r);
    const auto qh = split_heads(q[row], layer.heads);
    const auto tk = stack_heads(k, portraits, layer.heads);
    const auto tv = stack_heads(v, portraits, layer.heads);
    const auto mixed = options_.kernel == KernelChoice::kDense ? mmca_dense(qh, tk, tv, target)
                                                               : mmca_grouped(qh, tk, tv, target);
    const auto projected = layer.output(merge_heads(mixed).unsqueeze(0)).squeeze(0);
    out[row].copy_(mmca_blend(out[row], projected, target, options_.lambda));
  }
  return out;
}

// ---- StoryDiffusion -------------------------------------------------------------------

StoryDiffusionProcessor::StoryDiffusionProcessor(StoryDiffusionOptions options) : options_(options) {
  if (options_.sample_rate < 0.0 || options_.sample_rate > 1.0) {
    throw core::InputError(core::Location{"", 0, "storydiffusion.sample_rate"}, "a probability in [0, 1]");
  }
}

bool StoryDiffusionProcessor::active_at(int step) const {
  if (step < options_.plain_steps) return false;
  const double probability = step <= options_.switch_step ? options_.early_probability : options_.late_probability;
  auto generator = at::make_generator<at::CPUGeneratorImpl>(mix(options_.seed, static_cast<std::uint64_t>(step)));
  return torch::bernoulli(torch::full({1}, probability, torch::kFloat64), generator).item<double>() > 0.5;
}

torch::Tensor StoryDiffusionProcessor::attend(const AttentionCall& call, const AttentionLayer& layer,
                                              const torch::Tensor& hidden, const torch::Tensor& context) {
  if (call.kind == AttentionKind::kCross) return VanillaProcessor().attend(call, layer, hidden, context);
  const auto q = layer.query(hidden);
  const auto k = layer.key(hidden);
  const auto v = layer.value(hidden);
  auto out = multi_head_attention(q, k, v, layer.heads);
  const int step = step_of(call);
  if (!active_at(step)) return layer.output(out);
  const auto batch = hidden.size(0);
  const auto rows = rows_of(call, batch);
  for (const bool conditional : {false, true}) {
    const auto half = rows_in_half(rows, batch, conditional);
    if (half.size() < 2 || (rows.empty() && !conditional)) continue;  // no roles: one group
    for (const auto i : half) {
      std::vector<torch::Tensor> keys{k[i]};
      std::vector<torch::Tensor> values{v[i]};
      auto generator = at::make_generator<at::CPUGeneratorImpl>(
          mix(mix(mix(options_.seed, static_cast<std::uint64_t>(step)), static_cast<std::uint64_t>(call.layer.call_index)),
              static_cast<std::uint64_t>(i)));
      for (const auto j : half) {
        if (j == i) continue;
        const auto keep = indices_of(
            torch::bernoulli(torch::full({k.size(1)}, options_.sample_rate, torch::kFloat64), generator).to(torch::kBool));
        keys.push_back(k[j].index_select(0, keep));
        values.push_back(v[j].index_select(0, keep));
      }
      out[i].copy_(multi_head_attention(q[i].unsqueeze(0), torch::cat(keys).unsqueeze(0),
                                        torch::cat(values).unsqueeze(0), layer.heads)
                       .squeeze(0));
    }
  }
  return layer.output(out);
}

// ---- ConsiStory -----------------------------------------------------------------------

ConsiStoryProcessor::ConsiStoryProcessor(ConsiStoryOptions options) : options_(options) {
  if (options_.mask_dropout < 0.0 || options_.mask_dropout > 1.0) {
    throw core::InputError(core::Location{"", 0, "consistory.mask_dropout"}, "a probability in [0, 1]");
  }
  if (options_.query_blend < 0.0 || options_.query_blend > 1.0) {
    throw core::InputError(core::Location{"", 0, "consistory.query_blend"}, "a weight in [0, 1]");
  }
}

void ConsiStoryProcessor::set_masks(std::map<int, torch::Tensor> masks) { masks_ = std::move(masks); }

torch::Tensor ConsiStoryProcessor::attend(const AttentionCall& call, const AttentionLayer& layer,
                                          const torch::Tensor& hidden, const torch::Tensor& context) {
  if (call.kind == AttentionKind::kCross) return VanillaProcessor().attend(call, layer, hidden, context);
  auto q = layer.query(hidden);
  if (recording_) vanilla_queries_[call.layer.call_index] = q;
  const auto stored = vanilla_queries_.find(call.layer.call_index);
  if (!recording_ && options_.query_blend > 0.0 && step_of(call) < options_.blend_until_step &&
      stored != vanilla_queries_.end() && stored->second.sizes() == q.sizes()) {
    q = q * (1.0 - options_.query_blend) + stored->second * options_.query_blend;
  }
  const auto k = layer.key(hidden);
  const auto v = layer.value(hidden);
  auto out = multi_head_attention(q, k, v, layer.heads);
  const auto batch = hidden.size(0);
  const auto rows = rows_of(call, batch);
  if (recording_ || rows.empty() || masks_.empty()) return layer.output(out);
  const auto mask_of = [&](std::int64_t row, bool dropped) {
    const int image = rows[static_cast<std::size_t>(row)].image;
    const auto found = masks_.find(image);
    if (found == masks_.end()) throw core::RunError("ConsiStory: no subject mask for image " + std::to_string(image));
    const auto mask = resize_mask(found->second, call.height, call.width);
    if (!dropped) return mask;
    const auto seed = mix(mix(options_.seed, static_cast<std::uint64_t>(step_of(call))),
                          mix(static_cast<std::uint64_t>(image), static_cast<std::uint64_t>(mask.size(0))));
    return drop_mask_tokens(mask, options_.mask_dropout, seed);
  };
  for (const bool conditional : {false, true}) {
    const auto half = rows_in_half(rows, batch, conditional);
    if (half.size() < 2) continue;
    for (const auto i : half) {
      const auto queries = indices_of(mask_of(i, false));
      if (queries.numel() == 0) continue;
      std::vector<torch::Tensor> keys{k[i]};
      std::vector<torch::Tensor> values{v[i]};
      for (const auto j : half) {
        if (j == i) continue;
        const auto shared = indices_of(mask_of(j, true));
        keys.push_back(k[j].index_select(0, shared));
        values.push_back(v[j].index_select(0, shared));
      }
      const auto attended = multi_head_attention(q[i].index_select(0, queries).unsqueeze(0),
                                                 torch::cat(keys).unsqueeze(0), torch::cat(values).unsqueeze(0),
                                                 layer.heads);
      out[i].index_copy_(0, queries, attended.squeeze(0));
    }
  }
  return layer.output(out);
}

// ---- Recorder -------------------------------------------------------------------------

AttentionRecorder::AttentionRecorder(std::shared_ptr<Processor> inner, std::set<std::pair<int, int>> resolutions,
                                     SelfAttentionRecording self_attention)
    : inner_(std::move(inner)), resolutions_(std::move(resolutions)), self_attention_(std::move(self_attention)) {
  if (!inner_) throw core::InputError(core::Location{"", 0, "recorder.inner"}, "a processor to wrap");
  for (const int row : self_attention_.rows) {
    if (row < 0) throw core::InputError(core::Location{"", 0, "recorder.self_attention.rows"}, "batch rows >= 0");
  }
}

namespace {

// Head-averaged softmax(q kᵀ/√d) of the given batch rows (all if empty): [R, N, M].
torch::Tensor head_averaged_probabilities(const AttentionLayer& layer, const torch::Tensor& hidden,
                                          const torch::Tensor& source, const std::vector<int>& rows,
                                          const std::string& layer_name) {
  auto queries = hidden;
  auto keys = source;
  if (!rows.empty()) {
    for (const int row : rows) {
      if (row >= hidden.size(0)) {
        throw core::RunError("attention recorder: row " + std::to_string(row) + " is not in the batch of " +
                             std::to_string(hidden.size(0)) + " (layer " + layer_name + ")");
      }
    }
    const auto index = torch::tensor(std::vector<std::int64_t>(rows.begin(), rows.end()), torch::kLong);
    queries = hidden.index_select(0, index);
    keys = source.index_select(0, index);
  }
  const auto q = layer.query(queries);
  const auto k = layer.key(keys);
  const auto batch = q.size(0);
  const auto head_dim = q.size(2) / layer.heads;
  const auto qh = q.view({batch, q.size(1), layer.heads, head_dim}).transpose(1, 2);
  const auto kh = k.view({batch, k.size(1), layer.heads, head_dim}).transpose(1, 2);
  const auto logits = torch::matmul(qh, kh.transpose(-1, -2)) / std::sqrt(static_cast<double>(head_dim));
  return torch::softmax(logits, -1).mean(1);
}

}  // namespace

torch::Tensor AttentionRecorder::attend(const AttentionCall& call, const AttentionLayer& layer,
                                        const torch::Tensor& hidden, const torch::Tensor& context) {
  const bool wanted = resolutions_.empty() || resolutions_.count({call.height, call.width}) > 0;
  if (call.kind == AttentionKind::kCross && wanted) {
    maps_.push_back({call.layer, step_of(call), call.height, call.width,
                     head_averaged_probabilities(layer, hidden, context, {}, call.layer.name), {}});
  } else if (call.kind == AttentionKind::kSelf && wanted && self_attention_.enabled) {
    self_maps_.push_back({call.layer, step_of(call), call.height, call.width,
                          head_averaged_probabilities(layer, hidden, hidden, self_attention_.rows, call.layer.name),
                          self_attention_.rows});
  }
  return inner_->attend(call, layer, hidden, context);
}

}  // namespace dsbench::attention
