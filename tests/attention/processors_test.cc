// Processors on a tiny batch through a fake attention layer (random Linear layers):
// portrait rows stay vanilla, scene rows match the kernels, gating by step and layer,
// StoryDiffusion at sa = 1 is attention over all images, ConsiStory keeps background
// rows plain, the recorder's maps are probabilities.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/errors.h"
#include "pipeline/attention/kernels.h"
#include "pipeline/attention/processors.h"

namespace dsbench::attention {
namespace {

constexpr int kHeads = 2;
constexpr int kChannels = 16;
constexpr int kSide = 4;  // 4×4 tokens
constexpr int kTokens = kSide * kSide;

AttentionLayer fake_layer(int context_channels = kChannels) {
  torch::manual_seed(11);
  AttentionLayer layer;
  layer.to_q = torch::nn::Linear(torch::nn::LinearOptions(kChannels, kChannels).bias(false));
  layer.to_k = torch::nn::Linear(torch::nn::LinearOptions(context_channels, kChannels).bias(false));
  layer.to_v = torch::nn::Linear(torch::nn::LinearOptions(context_channels, kChannels).bias(false));
  layer.to_out = torch::nn::Linear(kChannels, kChannels);
  layer.heads = kHeads;
  return layer;
}

// [portrait 0, portrait 1, scene] × {unconditional, conditional}.
StepInfo story_step(int step = 3) {
  StepInfo info;
  info.step = step;
  info.num_steps = 50;
  for (const bool conditional : {false, true}) {
    info.rows.push_back({RowRole::kPortrait, 0, conditional, 0});
    info.rows.push_back({RowRole::kPortrait, 1, conditional, 1});
    info.rows.push_back({RowRole::kScene, -1, conditional, 2});
  }
  return info;
}

AttentionCall call_of(const StepInfo& step, AttentionKind kind, int call_index) {
  AttentionCall call;
  call.kind = kind;
  call.height = kSide;
  call.width = kSide;
  call.step = &step;
  call.layer.call_index = call_index;
  call.layer.name = "test.attn";
  return call;
}

std::map<int, SubjectMasks> test_masks() {
  auto left = torch::zeros({8, 8});
  left.narrow(1, 0, 4).fill_(1.0);
  auto top = torch::zeros({8, 8});
  top.narrow(0, 0, 4).fill_(1.0);
  auto centre = torch::zeros({8, 8});
  centre.narrow(0, 2, 4).narrow(1, 2, 4).fill_(1.0);
  return {{0, {centre, left}}, {1, {centre, top}}};  // targets overlap in the top-left quarter
}

torch::Tensor vanilla(const AttentionCall& call, const AttentionLayer& layer, const torch::Tensor& hidden,
                      const torch::Tensor& context = {}) {
  return VanillaProcessor().attend(call, layer, hidden, context);
}

double max_difference(const torch::Tensor& a, const torch::Tensor& b) { return (a - b).abs().max().item<double>(); }

TEST(MsdProcessor, PortraitRowsVanillaSceneRowsMatchTheKernel) {
  torch::NoGradGuard no_grad;
  const auto layer = fake_layer();
  const auto step = story_step();
  const auto call = call_of(step, AttentionKind::kSelf, 80);
  torch::manual_seed(12);
  const auto hidden = torch::randn({6, kTokens, kChannels});
  MsdOptions options;
  options.dropout = 0.0;
  MsdProcessor msd(options);
  msd.set_masks(test_masks());
  const auto out = msd.attend(call, layer, hidden, {});
  const auto plain = vanilla(call, layer, hidden);
  for (const int portrait : {0, 1, 3, 4}) EXPECT_LT(max_difference(out[portrait], plain[portrait]), 1e-6);
  EXPECT_GT(max_difference(out[2], plain[2]), 1e-4);
  // Scene row 5 (conditional) by hand: kernel on rows 3, 4 as portraits.
  const auto q = layer.query(hidden);
  const auto k = layer.key(hidden);
  const auto v = layer.value(hidden);
  const auto masks = test_masks();
  const auto target = torch::stack({resize_mask(masks.at(0).target, kSide, kSide), resize_mask(masks.at(1).target, kSide, kSide)});
  const auto source = torch::stack({resize_mask(masks.at(0).source, kSide, kSide), resize_mask(masks.at(1).source, kSide, kSide)});
  const auto pk = torch::stack({split_heads(k[3], kHeads), split_heads(k[4], kHeads)});
  const auto pv = torch::stack({split_heads(v[3], kHeads), split_heads(v[4], kHeads)});
  const auto expected = mmsa_dense(split_heads(q[5], kHeads), split_heads(k[5], kHeads), split_heads(v[5], kHeads),
                                   pk, pv, target, source);
  const auto projected = layer.output(merge_heads(expected).unsqueeze(0)).squeeze(0);
  EXPECT_LT(max_difference(out[5], projected), 1e-5);
  // Dense and grouped processors agree.
  options.kernel = KernelChoice::kDense;
  MsdProcessor dense(options);
  dense.set_masks(test_masks());
  EXPECT_LT(max_difference(dense.attend(call, layer, hidden, {}), out), 1e-5);
}

TEST(MsdProcessor, GatedByStartLayerAndStartStep) {
  torch::NoGradGuard no_grad;
  const auto layer = fake_layer();
  const auto hidden = torch::randn({6, kTokens, kChannels});
  MsdOptions options;
  options.start_layer = 10;
  options.start_step = 2;
  MsdProcessor msd(options);
  msd.set_masks(test_masks());
  const auto late = story_step(5);
  const auto early = story_step(1);
  const auto before_layer = call_of(late, AttentionKind::kSelf, 19);  // layer 9
  EXPECT_LT(max_difference(msd.attend(before_layer, layer, hidden, {}), vanilla(before_layer, layer, hidden)), 1e-7);
  const auto before_step = call_of(early, AttentionKind::kSelf, 40);
  EXPECT_LT(max_difference(msd.attend(before_step, layer, hidden, {}), vanilla(before_step, layer, hidden)), 1e-7);
  const auto active = call_of(late, AttentionKind::kSelf, 20);
  EXPECT_GT(max_difference(msd.attend(active, layer, hidden, {}), vanilla(active, layer, hidden)), 1e-4);
  options.enable_mmsa = false;
  MsdProcessor off(options);
  EXPECT_LT(max_difference(off.attend(active, layer, hidden, {}), vanilla(active, layer, hidden)), 1e-7);
}

TEST(MsdProcessor, MmcaBlendsPerSubjectTextAttentionInsideMasks) {
  torch::NoGradGuard no_grad;
  const int context_channels = 12;
  const auto layer = fake_layer(context_channels);
  const auto step = story_step();
  const auto call = call_of(step, AttentionKind::kCross, 81);
  torch::manual_seed(13);
  const auto hidden = torch::randn({6, kTokens, kChannels});
  const auto context = torch::randn({6, 7, context_channels});
  MsdOptions options;
  options.lambda = 0.9;
  MsdProcessor msd(options);
  msd.set_masks(test_masks());
  const auto out = msd.attend(call, layer, hidden, context);
  const auto plain = vanilla(call, layer, hidden, context);
  for (const int portrait : {0, 1, 3, 4}) EXPECT_LT(max_difference(out[portrait], plain[portrait]), 1e-6);
  // Scene row 2 (unconditional), by hand with projected per-subject outputs.
  const auto masks = test_masks();
  const auto t0 = resize_mask(masks.at(0).target, kSide, kSide);
  const auto t1 = resize_mask(masks.at(1).target, kSide, kSide);
  const auto q = split_heads(layer.query(hidden)[2], kHeads);
  const auto per_subject = [&](int row) {
    const auto attended = plain_attention(q, split_heads(layer.key(context)[row], kHeads),
                                          split_heads(layer.value(context)[row], kHeads));
    return layer.output(merge_heads(attended).unsqueeze(0)).squeeze(0);
  };
  const auto a0 = per_subject(0);
  const auto a1 = per_subject(1);
  for (int token = 0; token < kTokens; ++token) {
    const bool in0 = t0[token].item<bool>();
    const bool in1 = t1[token].item<bool>();
    torch::Tensor expected = plain[2][token];
    if (in0 || in1) {
      const auto mean = (a0[token] * (in0 ? 1.0 : 0.0) + a1[token] * (in1 ? 1.0 : 0.0)) / ((in0 ? 1 : 0) + (in1 ? 1 : 0));
      expected = 0.1 * plain[2][token] + 0.9 * mean;
    }
    EXPECT_LT(max_difference(out[2][token], expected), 1e-5) << token;
  }
}

TEST(MsdProcessor, WithoutMasksSceneSeesWholePortraits) {
  torch::NoGradGuard no_grad;
  const auto layer = fake_layer();
  const auto step = story_step();
  const auto call = call_of(step, AttentionKind::kSelf, 80);
  const auto hidden = torch::randn({6, kTokens, kChannels});
  MsdOptions options;
  options.use_masks = false;
  MsdProcessor msd(options);  // no set_masks needed
  const auto out = msd.attend(call, layer, hidden, {});
  const auto k = layer.key(hidden);
  const auto v = layer.value(hidden);
  const auto keys = torch::cat({k[5], k[3], k[4]}).unsqueeze(0);
  const auto values = torch::cat({v[5], v[3], v[4]}).unsqueeze(0);
  const auto expected = layer.output(multi_head_attention(layer.query(hidden)[5].unsqueeze(0), keys, values, kHeads));
  EXPECT_LT(max_difference(out[5], expected[0]), 1e-5);
}

TEST(MsdProcessor, MissingMasksAndBadOptionsAreErrors) {
  torch::NoGradGuard no_grad;
  const auto layer = fake_layer();
  const auto step = story_step();
  const auto call = call_of(step, AttentionKind::kSelf, 80);
  MsdProcessor msd;
  EXPECT_THROW(msd.attend(call, layer, torch::randn({6, kTokens, kChannels}), {}), core::RunError);
  EXPECT_THROW(msd.attend(call, layer, torch::randn({4, kTokens, kChannels}), {}), core::RunError);
  MsdOptions bad;
  bad.lambda = 2.0;
  EXPECT_THROW(MsdProcessor{bad}, core::InputError);
}

TEST(StoryDiffusion, PlainBeforeStepFiveAndAllImagesAtFullSampleRate) {
  torch::NoGradGuard no_grad;
  const auto layer = fake_layer();
  torch::manual_seed(14);
  const auto hidden = torch::randn({6, kTokens, kChannels});
  StoryDiffusionOptions options;
  options.sample_rate = 1.0;
  options.early_probability = 1.0;
  StoryDiffusionProcessor processor(options);
  const auto early = story_step(4);
  const auto early_call = call_of(early, AttentionKind::kSelf, 0);
  EXPECT_LT(max_difference(processor.attend(early_call, layer, hidden, {}), vanilla(early_call, layer, hidden)), 1e-7);
  const auto late = story_step(6);
  const auto call = call_of(late, AttentionKind::kSelf, 0);
  const auto out = processor.attend(call, layer, hidden, {});
  const auto k = layer.key(hidden);
  const auto v = layer.value(hidden);
  const auto q = layer.query(hidden);
  // Conditional half = rows 3, 4, 5: each sees all three images' tokens.
  const auto keys = torch::cat({k[3], k[4], k[5]}).unsqueeze(0);
  const auto values = torch::cat({v[3], v[4], v[5]}).unsqueeze(0);
  for (const int row : {3, 4, 5}) {
    const auto expected = layer.output(multi_head_attention(q[row].unsqueeze(0), keys, values, kHeads));
    EXPECT_LT(max_difference(out[row], expected[0]), 1e-5) << row;
  }
}

TEST(StoryDiffusion, ScheduleAndSamplingAreSeeded) {
  torch::NoGradGuard no_grad;
  StoryDiffusionOptions options;
  StoryDiffusionProcessor a(options);
  StoryDiffusionProcessor b(options);
  int active_early = 0;
  for (int step = 0; step < 50; ++step) {
    EXPECT_EQ(a.active_at(step), b.active_at(step));
    if (step < 5) EXPECT_FALSE(a.active_at(step));
    if (step >= 5 && step <= 20 && a.active_at(step)) ++active_early;
  }
  EXPECT_GT(active_early, 4);   // 16 steps at 0.7
  EXPECT_LT(active_early, 16);
  const auto layer = fake_layer();
  const auto hidden = torch::randn({6, kTokens, kChannels});
  int step_number = 5;
  while (!a.active_at(step_number)) ++step_number;
  const auto step = story_step(step_number);
  const auto call = call_of(step, AttentionKind::kSelf, 0);
  EXPECT_TRUE(torch::equal(a.attend(call, layer, hidden, {}), b.attend(call, layer, hidden, {})));
  EXPECT_GT(max_difference(a.attend(call, layer, hidden, {}), vanilla(call, layer, hidden)), 1e-5);
}

TEST(ConsiStory, SubjectRowsShareSubjectTokensBackgroundStaysPlain) {
  torch::NoGradGuard no_grad;
  const auto layer = fake_layer();
  const auto step = story_step();
  const auto call = call_of(step, AttentionKind::kSelf, 0);
  torch::manual_seed(15);
  const auto hidden = torch::randn({6, kTokens, kChannels});
  ConsiStoryOptions options;
  options.mask_dropout = 0.0;
  ConsiStoryProcessor processor(options);
  auto left = torch::zeros({4, 4});
  left.narrow(1, 0, 2).fill_(1.0);
  processor.set_masks({{0, left}, {1, left}, {2, left}});
  const auto out = processor.attend(call, layer, hidden, {});
  const auto plain = vanilla(call, layer, hidden);
  const auto inside = resize_mask(left, kSide, kSide);
  const auto outside_rows = torch::nonzero(inside.logical_not()).squeeze(1);
  const auto inside_rows = torch::nonzero(inside).squeeze(1);
  EXPECT_LT(max_difference(out[3].index_select(0, outside_rows), plain[3].index_select(0, outside_rows)), 1e-6);
  // Inside: attention over image 3's tokens plus the subject tokens of rows 4 and 5.
  const auto k = layer.key(hidden);
  const auto v = layer.value(hidden);
  const auto keys = torch::cat({k[3], k[4].index_select(0, inside_rows), k[5].index_select(0, inside_rows)}).unsqueeze(0);
  const auto values = torch::cat({v[3], v[4].index_select(0, inside_rows), v[5].index_select(0, inside_rows)}).unsqueeze(0);
  const auto expected = layer.output(multi_head_attention(layer.query(hidden)[3].unsqueeze(0), keys, values, kHeads))[0];
  EXPECT_LT(max_difference(out[3].index_select(0, inside_rows), expected.index_select(0, inside_rows)), 1e-5);
}

TEST(ConsiStory, LayoutDiversityBlendsQueriesWithTheVanillaPass) {
  torch::NoGradGuard no_grad;
  const auto layer = fake_layer();
  const auto step = story_step(1);
  const auto call = call_of(step, AttentionKind::kSelf, 4);
  torch::manual_seed(16);
  const auto vanilla_hidden = torch::randn({6, kTokens, kChannels});
  const auto hidden = torch::randn({6, kTokens, kChannels});
  ConsiStoryOptions options;
  options.query_blend = 0.25;
  options.blend_until_step = 2;
  ConsiStoryProcessor processor(options);
  processor.set_masks({{0, torch::zeros({4, 4})}, {1, torch::zeros({4, 4})}, {2, torch::zeros({4, 4})}});
  processor.record_vanilla_queries(true);
  EXPECT_LT(max_difference(processor.attend(call, layer, vanilla_hidden, {}), vanilla(call, layer, vanilla_hidden)), 1e-7);
  processor.record_vanilla_queries(false);
  const auto out = processor.attend(call, layer, hidden, {});  // empty masks: only the blend acts
  const auto q = layer.query(hidden) * 0.75 + layer.query(vanilla_hidden) * 0.25;
  const auto expected = layer.output(multi_head_attention(q, layer.key(hidden), layer.value(hidden), kHeads));
  EXPECT_LT(max_difference(out, expected), 1e-6);
  const auto late = story_step(2);  // past blend_until_step: no blending
  const auto late_call = call_of(late, AttentionKind::kSelf, 4);
  EXPECT_LT(max_difference(processor.attend(late_call, layer, hidden, {}), vanilla(late_call, layer, hidden)), 1e-7);
}

TEST(AttentionRecorder, RecordsHeadAveragedProbabilitiesAtChosenResolutions) {
  torch::NoGradGuard no_grad;
  const int context_channels = 12;
  const auto layer = fake_layer(context_channels);
  const auto step = story_step();
  const auto hidden = torch::randn({6, kTokens, kChannels});
  const auto context = torch::randn({6, 7, context_channels});
  AttentionRecorder recorder(std::make_shared<VanillaProcessor>(), {{kSide, kSide}});
  const auto cross = call_of(step, AttentionKind::kCross, 1);
  const auto out = recorder.attend(cross, layer, hidden, context);
  EXPECT_LT(max_difference(out, vanilla(cross, layer, hidden, context)), 1e-7);
  recorder.attend(call_of(step, AttentionKind::kSelf, 0), fake_layer(), hidden, {});  // self: not recorded
  auto other = call_of(step, AttentionKind::kCross, 3);
  other.height = 2;
  other.width = 8;
  recorder.attend(other, layer, hidden, context);  // resolution not chosen
  ASSERT_EQ(recorder.maps().size(), 1u);
  const auto& map = recorder.maps()[0];
  EXPECT_EQ(map.probabilities.sizes(), (std::vector<std::int64_t>{6, kTokens, 7}));
  EXPECT_LT(max_difference(map.probabilities.sum(-1), torch::ones({6, kTokens})), 1e-5);
  EXPECT_EQ(map.step, 3);
  recorder.clear();
  EXPECT_TRUE(recorder.maps().empty());
}

}  // namespace
}  // namespace dsbench::attention
