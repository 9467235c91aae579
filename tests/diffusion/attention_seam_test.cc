// Every UNet attention call reaches the processor with its identity, in call order.
#include <gtest/gtest.h>

#include <set>

#include "core/errors.h"
#include "pipeline/diffusion/unet.h"

namespace dsbench::diffusion {
namespace {

using attention::AttentionCall;
using attention::AttentionKind;

class RecordingProcessor : public attention::VanillaProcessor {
 public:
  std::vector<AttentionCall> calls;
  torch::Tensor attend(const AttentionCall& call, const attention::AttentionLayer& layer,
                       const torch::Tensor& hidden, const torch::Tensor& context) override {
    calls.push_back(call);
    steps.push_back(call.step->step);
    return VanillaProcessor::attend(call, layer, hidden, context);
  }
  std::vector<int> steps;
};

class ZeroProcessor : public attention::Processor {
 public:
  int count = 0;
  torch::Tensor attend(const AttentionCall&, const attention::AttentionLayer&, const torch::Tensor& hidden,
                       const torch::Tensor&) override {
    ++count;
    return torch::zeros_like(hidden);
  }
};

struct TinyUNet : ::testing::Test {
  TinyUNet() : unet(UNetConfig::tiny()) {
    torch::manual_seed(1);
    sample = torch::randn({2, 4, 8, 8});
    context = torch::randn({2, 7, 32});
    step.step = 3;
    step.num_steps = 10;
    step.timestep = 701;
  }
  torch::Tensor run() { return unet(sample, torch::tensor(701), context, step); }
  torch::NoGradGuard no_grad;
  UNet unet;
  torch::Tensor sample, context;
  attention::StepInfo step;
};

TEST_F(TinyUNet, EveryAttentionCallReachesTheProcessorInCallOrder) {
  auto recorder = std::make_shared<RecordingProcessor>();
  unet->set_processor(recorder);
  const auto output = run();
  EXPECT_EQ(output.sizes(), sample.sizes());
  const auto layers = unet->attention_layers();
  // tiny: 1 transformer per down level (2), mid (1), 2 per up level (4); self + cross each.
  ASSERT_EQ(layers.size(), 14u);
  ASSERT_EQ(recorder->calls.size(), layers.size());
  std::set<std::string> names;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const auto& call = recorder->calls[i];
    EXPECT_EQ(call.layer.call_index, static_cast<int>(i));
    EXPECT_EQ(call.layer.name, layers[i].name);
    EXPECT_EQ(call.kind, i % 2 == 0 ? AttentionKind::kSelf : AttentionKind::kCross) << call.layer.name;
    EXPECT_EQ(recorder->steps[i], 3);
    names.insert(call.layer.name);
  }
  EXPECT_EQ(names.size(), layers.size());
  EXPECT_EQ(recorder->calls[0].layer.name, "down_blocks.0.attentions.0.transformer_blocks.0.attn1");
  EXPECT_EQ(recorder->calls[0].height, 8);
  EXPECT_EQ(recorder->calls[0].width, 8);
  const auto& mid = recorder->calls[4];
  EXPECT_EQ(mid.layer.name, "mid_block.attentions.0.transformer_blocks.0.attn1");
  EXPECT_EQ(mid.layer.block, attention::UNetBlock::kMid);
  EXPECT_EQ(mid.height, 4);
  const auto& last = recorder->calls.back();
  EXPECT_EQ(last.layer.name, "up_blocks.1.attentions.1.transformer_blocks.0.attn2");
  EXPECT_EQ(last.layer.block, attention::UNetBlock::kUp);
  EXPECT_EQ(last.layer.level, 1);
  EXPECT_EQ(last.layer.attention, 1);
  EXPECT_EQ(last.height, 8);

  // A second forward numbers its calls from 0 again.
  recorder->calls.clear();
  run();
  EXPECT_EQ(recorder->calls.front().layer.call_index, 0);
}

TEST_F(TinyUNet, VanillaDefaultEqualsExplicitVanillaAndOverridesApplyPerLayer) {
  const auto vanilla = run();
  unet->set_processor(std::make_shared<attention::VanillaProcessor>());
  EXPECT_TRUE(torch::equal(run(), vanilla));

  auto zero = std::make_shared<ZeroProcessor>();
  unet->set_layer_processor("mid_block.attentions.0.transformer_blocks.0.attn2", zero);
  const auto changed = run();
  EXPECT_EQ(zero->count, 1);
  EXPECT_FALSE(torch::allclose(changed, vanilla));

  unet->set_layer_processor("mid_block.attentions.0.transformer_blocks.0.attn2", nullptr);
  EXPECT_TRUE(torch::equal(run(), vanilla));
  EXPECT_EQ(zero->count, 1);
}

TEST_F(TinyUNet, UnknownLayerNameIsAnInputError) {
  EXPECT_THROW(unet->set_layer_processor("mid_block.attentions.0.transformer_blocks.0.attn3",
                                         std::make_shared<ZeroProcessor>()),
               core::InputError);
}

TEST(UNetConfigTest, InconsistentConfigsAreInputErrors) {
  UNetConfig config = UNetConfig::tiny();
  config.attention_heads = {2};
  EXPECT_THROW(config.validate(), core::InputError);
  config = UNetConfig::tiny();
  config.attention_heads = {3, 2};
  EXPECT_THROW(config.validate(), core::InputError);
  config = UNetConfig::tiny();
  config.block_out_channels = {32, 48};
  EXPECT_THROW(config.validate(), core::InputError);
  EXPECT_NO_THROW(UNetConfig::sd15().validate());
  EXPECT_NO_THROW(UNetConfig::sdxl().validate());
}

TEST(UNetConfigTest, SdxlNeedsItsAddedConditions) {
  UNetConfig config = UNetConfig::tiny();
  config.addition_embed_type = "text_time";
  config.addition_time_embed_dim = 8;
  config.projection_class_embeddings_input_dim = 16 + 48;
  torch::NoGradGuard no_grad;
  UNet unet(config);
  EXPECT_THROW(unet(torch::zeros({1, 4, 8, 8}), torch::tensor(1), torch::zeros({1, 3, 32}), attention::StepInfo{}),
               core::RunError);
  const AddedConditions added{torch::zeros({1, 16}), torch::zeros({1, 6})};
  EXPECT_EQ(unet(torch::zeros({1, 4, 8, 8}), torch::tensor(1), torch::zeros({1, 3, 32}), attention::StepInfo{}, added)
                .sizes(),
            (std::vector<std::int64_t>{1, 4, 8, 8}));
}

}  // namespace
}  // namespace dsbench::diffusion
