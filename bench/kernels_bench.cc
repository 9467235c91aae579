// MMSA and MMCA kernels, dense reference vs grouped, over subject counts and UNet levels,
// with plain attention and plain GEMMs of the same shapes as the roofline reference.
//
// Arguments of every benchmark: /S/h/w/heads, N = h·w attention tokens, head dim 64.
//   SD levels (512² image → 64² latent): 64×64, 32×32, 16×16, 8 heads.
//   SDXL 1280×768 (160×96 latent): attention at 80×48 (10 heads) and 40×24 (20 heads).
// Masks (seeded, the same for both kernels): subject s is an ellipse covering 15–30 % of
// the scene at random places (overlaps happen); for S > 4 the subjects shrink so that
// the masks together cover ≈ 120 % of the scene (no scene holds 16 subjects of 25 %
// each). Each portrait's subject is a centred ellipse of ≈ 40 %.
// Counters:
//   useful_FLOP/s  the work the kernel must do: QKᵀ and PV of allowed (query, key) pairs
//                  only (4·d FLOPs each, times heads), the SAME count for dense and
//                  grouped, so the rates compare directly (dense does more raw work).
//   scratch_bytes  peak bytes allocated beyond inputs/outputs, computed from the kernels'
//                  allocations (pipeline/attention/kernels.h). Dense runs one head at a
//                  time (so 64×64 with many subjects fits in memory): its scratch is per head.
// Dense MMSA is capped at 160 M logits per head (640 MB, ≈ 1.6 GB peak with the softmax
// copy and masks): at 64×64 and 80×48 that is S ≤ 8; larger S are skipped with a message.
// Threads: DSBENCH_THREADS (default 2).
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdlib>
#include <string>

#include "pipeline/attention/kernels.h"

namespace {

namespace attn = dsbench::attention;

constexpr std::int64_t kHeadDim = 64;
constexpr std::int64_t kTextTokens = 77;
constexpr double kDenseLogitCap = 160e6;

int threads() {
  const char* value = std::getenv("DSBENCH_THREADS");
  return value != nullptr ? std::max(1, std::atoi(value)) : 2;
}

struct Shape {
  std::int64_t subjects, height, width, heads;
  std::int64_t tokens() const { return height * width; }
};

Shape shape_of(const benchmark::State& state) {
  return {state.range(0), state.range(1), state.range(2), state.range(3)};
}

// Ellipse of the given area fraction centred at (cy, cx) in unit coordinates.
torch::Tensor ellipse(std::int64_t height, std::int64_t width, double cy, double cx, double fraction,
                      double aspect) {
  const auto ry = std::sqrt(fraction * aspect / M_PI);
  const auto rx = std::sqrt(fraction / (aspect * M_PI));
  const auto y = (torch::arange(height, torch::kFloat64) + 0.5) / height;
  const auto x = (torch::arange(width, torch::kFloat64) + 0.5) / width;
  const auto dy = (y.unsqueeze(1) - cy) / ry;
  const auto dx = (x.unsqueeze(0) - cx) / rx;
  return (dy * dy + dx * dx <= 1.0).flatten();
}

struct Masks {
  torch::Tensor target;  // [S, N]
  torch::Tensor source;  // [S, N]
};

Masks realistic_masks(const Shape& shape) {
  torch::manual_seed(1234 + shape.subjects);
  const double shrink = std::min(1.0, 1.2 / (0.225 * static_cast<double>(shape.subjects)));
  std::vector<torch::Tensor> target;
  std::vector<torch::Tensor> source;
  for (std::int64_t s = 0; s < shape.subjects; ++s) {
    const auto r = torch::rand({5}, torch::kFloat64);
    const auto u = [&](int i) { return r[i].item<double>(); };
    const double fraction = (0.15 + 0.15 * u(0)) * shrink;
    target.push_back(ellipse(shape.height, shape.width, 0.2 + 0.6 * u(1), 0.2 + 0.6 * u(2), fraction,
                             0.6 + 1.2 * u(3)));
    source.push_back(ellipse(shape.height, shape.width, 0.5, 0.5, 0.35 + 0.1 * u(4), 1.4));
  }
  return {torch::stack(target), torch::stack(source)};
}

struct MmsaInputs {
  torch::Tensor q, scene_k, scene_v, portrait_k, portrait_v;
  Masks masks;
};

MmsaInputs mmsa_inputs(const Shape& shape) {
  torch::manual_seed(7);
  const auto n = shape.tokens();
  return {torch::randn({shape.heads, n, kHeadDim}), torch::randn({shape.heads, n, kHeadDim}),
          torch::randn({shape.heads, n, kHeadDim}), torch::randn({shape.subjects, shape.heads, n, kHeadDim}),
          torch::randn({shape.subjects, shape.heads, n, kHeadDim}), realistic_masks(shape)};
}

void set_counters(benchmark::State& state, double flops, std::int64_t scratch_bytes) {
  state.counters["useful_FLOP/s"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["scratch_bytes"] =
      benchmark::Counter(static_cast<double>(scratch_bytes), benchmark::Counter::kDefaults, benchmark::Counter::kIs1024);
  state.counters["tokens"] = static_cast<double>(state.range(1) * state.range(2));
}

void BM_mmsa_dense(benchmark::State& state) {
  torch::set_num_threads(threads());
  torch::NoGradGuard no_grad;
  const auto shape = shape_of(state);
  const auto n = shape.tokens();
  const double logits_per_head = static_cast<double>(n) * static_cast<double>(n * (shape.subjects + 1));
  if (logits_per_head > kDenseLogitCap) {
    state.SkipWithError(("dense logits per head " + std::to_string(static_cast<long long>(logits_per_head / 1e6)) +
                         " M exceed the 160 M cap (memory)").c_str());
    return;
  }
  const auto in = mmsa_inputs(shape);
  for (auto _ : state) {
    // One head at a time: the reference's N × N(S+1) logits for all heads would not fit.
    for (std::int64_t h = 0; h < shape.heads; ++h) {
      const auto head = [&](const torch::Tensor& x) { return x.narrow(0, h, 1); };
      const auto portrait = [&](const torch::Tensor& x) { return x.narrow(1, h, 1); };
      auto out = attn::mmsa_dense(head(in.q), head(in.scene_k), head(in.scene_v), portrait(in.portrait_k),
                                  portrait(in.portrait_v), in.masks.target, in.masks.source);
      benchmark::DoNotOptimize(out.data_ptr<float>());
    }
  }
  set_counters(state, attn::mmsa_useful_flops(shape.heads, kHeadDim, in.masks.target, in.masks.source, n),
               attn::mmsa_dense_scratch_bytes(1, n, shape.subjects, n, kHeadDim));
}

void BM_mmsa_grouped(benchmark::State& state) {
  torch::set_num_threads(threads());
  torch::NoGradGuard no_grad;
  const auto shape = shape_of(state);
  const auto in = mmsa_inputs(shape);
  for (auto _ : state) {
    auto out = attn::mmsa_grouped(in.q, in.scene_k, in.scene_v, in.portrait_k, in.portrait_v, in.masks.target,
                                  in.masks.source);
    benchmark::DoNotOptimize(out.data_ptr<float>());
  }
  set_counters(state, attn::mmsa_useful_flops(shape.heads, kHeadDim, in.masks.target, in.masks.source, shape.tokens()),
               attn::mmsa_grouped_scratch_bytes(shape.heads, kHeadDim, in.masks.target, in.masks.source,
                                                shape.tokens()));
}

struct MmcaInputs {
  torch::Tensor q, text_k, text_v;
  Masks masks;
};

MmcaInputs mmca_inputs(const Shape& shape) {
  torch::manual_seed(8);
  return {torch::randn({shape.heads, shape.tokens(), kHeadDim}),
          torch::randn({shape.subjects, shape.heads, kTextTokens, kHeadDim}),
          torch::randn({shape.subjects, shape.heads, kTextTokens, kHeadDim}), realistic_masks(shape)};
}

void BM_mmca_dense(benchmark::State& state) {
  torch::set_num_threads(threads());
  torch::NoGradGuard no_grad;
  const auto shape = shape_of(state);
  const auto in = mmca_inputs(shape);
  for (auto _ : state) {
    auto out = attn::mmca_dense(in.q, in.text_k, in.text_v, in.masks.target);
    benchmark::DoNotOptimize(out.data_ptr<float>());
  }
  set_counters(state, attn::mmca_useful_flops(shape.heads, kHeadDim, kTextTokens, in.masks.target),
               attn::mmca_dense_scratch_bytes(shape.heads, shape.tokens(), shape.subjects, kTextTokens, kHeadDim));
}

void BM_mmca_grouped(benchmark::State& state) {
  torch::set_num_threads(threads());
  torch::NoGradGuard no_grad;
  const auto shape = shape_of(state);
  const auto in = mmca_inputs(shape);
  for (auto _ : state) {
    auto out = attn::mmca_grouped(in.q, in.text_k, in.text_v, in.masks.target);
    benchmark::DoNotOptimize(out.data_ptr<float>());
  }
  set_counters(state, attn::mmca_useful_flops(shape.heads, kHeadDim, kTextTokens, in.masks.target),
               attn::mmca_grouped_scratch_bytes(shape.heads, kHeadDim, kTextTokens, in.masks.target));
}

// Roofline references at S = 0: plain scene self-attention (one head at a time, like the
// dense kernel) and the two GEMMs alone (QKᵀ, then PV), no softmax.
void BM_plain_attention(benchmark::State& state) {
  torch::set_num_threads(threads());
  torch::NoGradGuard no_grad;
  const auto shape = shape_of(state);
  const auto n = shape.tokens();
  const auto q = torch::randn({shape.heads, n, kHeadDim});
  const auto k = torch::randn({shape.heads, n, kHeadDim});
  const auto v = torch::randn({shape.heads, n, kHeadDim});
  for (auto _ : state) {
    for (std::int64_t h = 0; h < shape.heads; ++h) {
      auto out = attn::plain_attention(q.narrow(0, h, 1), k.narrow(0, h, 1), v.narrow(0, h, 1));
      benchmark::DoNotOptimize(out.data_ptr<float>());
    }
  }
  const double flops = 4.0 * kHeadDim * static_cast<double>(n) * static_cast<double>(n) * shape.heads;
  set_counters(state, flops, 2 * n * n * 4);
}

void BM_plain_matmul(benchmark::State& state) {
  torch::set_num_threads(threads());
  torch::NoGradGuard no_grad;
  const auto shape = shape_of(state);
  const auto n = shape.tokens();
  const auto q = torch::randn({1, n, kHeadDim});
  const auto k = torch::randn({1, n, kHeadDim});
  const auto v = torch::randn({1, n, kHeadDim});
  for (auto _ : state) {
    for (std::int64_t h = 0; h < shape.heads; ++h) {
      const auto logits = torch::bmm(q, k.transpose(1, 2));
      auto out = torch::bmm(logits, v);
      benchmark::DoNotOptimize(out.data_ptr<float>());
    }
  }
  const double flops = 4.0 * kHeadDim * static_cast<double>(n) * static_cast<double>(n) * shape.heads;
  set_counters(state, flops, n * n * 4);
}

struct Level {
  std::int64_t height, width, heads;
};
constexpr Level kLevels[] = {{64, 64, 8}, {32, 32, 8}, {16, 16, 8}, {80, 48, 10}, {40, 24, 20}};
constexpr std::int64_t kSubjectCounts[] = {1, 2, 3, 4, 6, 8, 12, 16};

void subject_sweep(benchmark::internal::Benchmark* b) {
  b->ArgNames({"S", "h", "w", "heads"});
  for (const auto& level : kLevels)
    for (const auto s : kSubjectCounts) b->Args({s, level.height, level.width, level.heads});
}

void levels_only(benchmark::internal::Benchmark* b) {
  b->ArgNames({"S", "h", "w", "heads"});
  for (const auto& level : kLevels) b->Args({0, level.height, level.width, level.heads});
}

BENCHMARK(BM_mmsa_dense)->Apply(subject_sweep)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_mmsa_grouped)->Apply(subject_sweep)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_mmca_dense)->Apply(subject_sweep)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_mmca_grouped)->Apply(subject_sweep)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_plain_attention)->Apply(levels_only)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_plain_matmul)->Apply(levels_only)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
