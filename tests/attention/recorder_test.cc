// AttentionRecorder's self-attention recording: off by default, at the chosen resolutions
// only, only the chosen rows, probabilities equal to a per-head softmax(q kᵀ/√d) averaged
// over heads computed here independently, and the error paths.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "core/errors.h"
#include "pipeline/attention/processors.h"

namespace dsbench::attention {
namespace {

constexpr int kHeads = 2;
constexpr int kChannels = 8;
constexpr int kSide = 3;
constexpr int kTokens = kSide * kSide;

AttentionLayer layer_with_random_weights() {
  torch::manual_seed(5);
  AttentionLayer layer;
  layer.to_q = torch::nn::Linear(torch::nn::LinearOptions(kChannels, kChannels).bias(false));
  layer.to_k = torch::nn::Linear(torch::nn::LinearOptions(kChannels, kChannels).bias(false));
  layer.to_v = torch::nn::Linear(torch::nn::LinearOptions(kChannels, kChannels).bias(false));
  layer.to_out = torch::nn::Linear(kChannels, kChannels);
  layer.heads = kHeads;
  return layer;
}

AttentionCall self_call(const StepInfo& step, int height = kSide, int width = kSide) {
  AttentionCall call;
  call.kind = AttentionKind::kSelf;
  call.height = height;
  call.width = width;
  call.step = &step;
  call.layer.call_index = 4;
  call.layer.name = "mid_block.attentions.0.transformer_blocks.0.attn1";
  return call;
}

// Head h of row b, one query and key at a time: the textbook definition.
torch::Tensor expected_probabilities(const AttentionLayer& layer, const torch::Tensor& hidden, std::int64_t row) {
  const auto q = layer.query(hidden[row]);  // [N, C]
  const auto k = layer.key(hidden[row]);
  const auto d = kChannels / kHeads;
  auto sum = torch::zeros({kTokens, kTokens}, torch::kDouble);
  for (int h = 0; h < kHeads; ++h) {
    const auto qh = q.slice(1, h * d, (h + 1) * d).to(torch::kDouble);
    const auto kh = k.slice(1, h * d, (h + 1) * d).to(torch::kDouble);
    for (int i = 0; i < kTokens; ++i) {
      auto logits = torch::zeros({kTokens}, torch::kDouble);
      for (int j = 0; j < kTokens; ++j) logits[j] = (qh[i] * kh[j]).sum() / std::sqrt(static_cast<double>(d));
      const auto e = (logits - logits.max()).exp();
      sum[i] += e / e.sum();
    }
  }
  return sum / kHeads;
}

TEST(RecorderSelfAttention, OffByDefault) {
  torch::NoGradGuard no_grad;
  const auto layer = layer_with_random_weights();
  StepInfo step;
  AttentionRecorder recorder(std::make_shared<VanillaProcessor>(), {{kSide, kSide}});
  recorder.attend(self_call(step), layer, torch::randn({2, kTokens, kChannels}), {});
  EXPECT_TRUE(recorder.self_maps().empty());
  EXPECT_TRUE(recorder.maps().empty());
}

TEST(RecorderSelfAttention, RecordsChosenRowsAtChosenResolutions) {
  torch::NoGradGuard no_grad;
  const auto layer = layer_with_random_weights();
  StepInfo step;
  step.step = 7;
  const auto hidden = torch::randn({4, kTokens, kChannels});
  AttentionRecorder recorder(std::make_shared<VanillaProcessor>(), {{kSide, kSide}},
                             SelfAttentionRecording{true, {3, 1}});
  const auto out = recorder.attend(self_call(step), layer, hidden, {});
  EXPECT_TRUE(torch::equal(out, VanillaProcessor().attend(self_call(step), layer, hidden, {})));
  const auto other_size = torch::randn({4, 4, kChannels});
  recorder.attend(self_call(step, 2, 2), layer, other_size, {});  // resolution not chosen
  ASSERT_EQ(recorder.self_maps().size(), 1u);
  EXPECT_TRUE(recorder.maps().empty());  // self maps never go to the cross-attention list
  const auto& map = recorder.self_maps()[0];
  EXPECT_EQ(map.step, 7);
  EXPECT_EQ(map.layer.call_index, 4);
  EXPECT_EQ(map.rows, (std::vector<int>{3, 1}));
  ASSERT_EQ(map.probabilities.sizes(), (std::vector<std::int64_t>{2, kTokens, kTokens}));
  EXPECT_LT((map.probabilities[0].to(torch::kDouble) - expected_probabilities(layer, hidden, 3)).abs().max().item<double>(), 1e-6);
  EXPECT_LT((map.probabilities[1].to(torch::kDouble) - expected_probabilities(layer, hidden, 1)).abs().max().item<double>(), 1e-6);
  recorder.clear();
  EXPECT_TRUE(recorder.self_maps().empty());
}

TEST(RecorderSelfAttention, AllRowsWhenNoneChosen) {
  torch::NoGradGuard no_grad;
  const auto layer = layer_with_random_weights();
  StepInfo step;
  const auto hidden = torch::randn({3, kTokens, kChannels});
  AttentionRecorder recorder(std::make_shared<VanillaProcessor>(), {}, SelfAttentionRecording{true, {}});
  recorder.attend(self_call(step), layer, hidden, {});
  ASSERT_EQ(recorder.self_maps().size(), 1u);
  const auto& p = recorder.self_maps()[0].probabilities;
  ASSERT_EQ(p.size(0), 3);
  EXPECT_TRUE(recorder.self_maps()[0].rows.empty());
  EXPECT_LT((p[2].to(torch::kDouble) - expected_probabilities(layer, hidden, 2)).abs().max().item<double>(), 1e-6);
}

TEST(RecorderSelfAttention, RowsOutsideTheBatchAreErrors) {
  torch::NoGradGuard no_grad;
  const auto layer = layer_with_random_weights();
  StepInfo step;
  EXPECT_THROW(AttentionRecorder(std::make_shared<VanillaProcessor>(), {}, SelfAttentionRecording{true, {-1}}),
               core::InputError);
  AttentionRecorder recorder(std::make_shared<VanillaProcessor>(), {}, SelfAttentionRecording{true, {5}});
  try {
    recorder.attend(self_call(step), layer, torch::randn({2, kTokens, kChannels}), {});
    FAIL() << "row 5 of a batch of 2 was accepted";
  } catch (const core::RunError& e) {
    EXPECT_NE(std::string(e.what()).find("row 5"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("attn1"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace dsbench::attention
