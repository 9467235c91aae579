#include "pipeline/diffusion/clip_text_model.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "core/errors.h"
#include "core/safetensors.h"
#include "pipeline/diffusion/clip_tokenizer.h"
#include "pipeline/diffusion/weights.h"

namespace dsbench::diffusion {
namespace {

namespace fs = std::filesystem;

const fs::path kFixtures = fs::path(DSBENCH_SOURCE_DIR) / "tests" / "fixtures" / "text";

// The parity fixture's configuration: the tiny profile with a 1000-id vocabulary.
ClipTextConfig parity_config() {
  auto config = ClipTextConfig::tiny();
  config.vocab_size = 1000;
  return config;
}

TEST(ClipTextModel, Sd15HasThePublishedParameterCount) {
  torch::NoGradGuard no_grad;
  ClipTextModel model(ClipTextConfig::sd15());
  EXPECT_EQ(parameter_count(*model), 123060480);
}

TEST(ClipTextModel, ParameterNamesAreTransformersStateDictKeys) {
  auto config = ClipTextConfig::tiny();
  config.layers = 1;
  ClipTextModel model(config);
  std::vector<std::string> names;
  for (const auto& item : model->named_parameters()) names.push_back(item.key());
  std::sort(names.begin(), names.end());
  const std::vector<std::string> expected = {
      "text_model.embeddings.position_embedding.weight",
      "text_model.embeddings.token_embedding.weight",
      "text_model.encoder.layers.0.layer_norm1.bias",
      "text_model.encoder.layers.0.layer_norm1.weight",
      "text_model.encoder.layers.0.layer_norm2.bias",
      "text_model.encoder.layers.0.layer_norm2.weight",
      "text_model.encoder.layers.0.mlp.fc1.bias",
      "text_model.encoder.layers.0.mlp.fc1.weight",
      "text_model.encoder.layers.0.mlp.fc2.bias",
      "text_model.encoder.layers.0.mlp.fc2.weight",
      "text_model.encoder.layers.0.self_attn.k_proj.bias",
      "text_model.encoder.layers.0.self_attn.k_proj.weight",
      "text_model.encoder.layers.0.self_attn.out_proj.bias",
      "text_model.encoder.layers.0.self_attn.out_proj.weight",
      "text_model.encoder.layers.0.self_attn.q_proj.bias",
      "text_model.encoder.layers.0.self_attn.q_proj.weight",
      "text_model.encoder.layers.0.self_attn.v_proj.bias",
      "text_model.encoder.layers.0.self_attn.v_proj.weight",
      "text_model.final_layer_norm.bias",
      "text_model.final_layer_norm.weight",
  };
  EXPECT_EQ(names, expected);
  EXPECT_TRUE(model->named_buffers().is_empty());
}

class ClipTextParityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    io_ = std::make_unique<core::safetensors::File>(core::safetensors::File::open(kFixtures / "clip_text_io.safetensors"));
  }
  torch::Tensor io(const std::string& name) const { return to_tensor(io_->tensor(name)); }
  torch::Tensor ids(const std::string& name) const { return io(name).round().to(torch::kInt64); }
  static ClipTextModel loaded(ClipTextConfig config) {
    ClipTextModel model(config);
    const auto report = load_clip_text_weights(*model, kFixtures / "clip_text_weights.safetensors");
    EXPECT_TRUE(report.ok()) << report.summary();
    model->eval();
    return model;
  }
  static void expect_close(const torch::Tensor& got, const torch::Tensor& expected, const std::string& what) {
    ASSERT_EQ(got.sizes(), expected.sizes()) << what;
    const double difference = (got - expected).abs().max().item<double>();
    EXPECT_LT(difference, 1e-4) << what;
    // The outputs are not trivially small: a broken model would not pass by accident.
    EXPECT_GT(expected.abs().mean().item<double>(), 0.1) << what;
  }
  std::unique_ptr<core::safetensors::File> io_;
};

TEST_F(ClipTextParityTest, ForwardMatchesTheTorchReference) {
  torch::NoGradGuard no_grad;
  auto model = loaded(parity_config());
  expect_close(model->forward(ids("ids77")), io("hidden77"), "77 tokens");
  expect_close(model->forward(ids("ids12")), io("hidden12"), "12 tokens");
  expect_close(model->forward_hidden(ids("ids77"), 1), io("hidden77_skip1"), "skip 1 layer");
  EXPECT_TRUE(torch::equal(model->forward_hidden(ids("ids77"), 0), model->forward(ids("ids77"))));
}

TEST_F(ClipTextParityTest, ExactGeluVariantMatchesTheTorchReference) {
  torch::NoGradGuard no_grad;
  auto config = parity_config();
  config.quick_gelu = false;
  auto model = loaded(config);
  expect_close(model->forward(ids("ids77")), io("hidden77_gelu"), "exact GELU");
}

TEST_F(ClipTextParityTest, AttentionIsCausal) {
  // Changing a later token must not change earlier positions' states.
  torch::NoGradGuard no_grad;
  auto model = loaded(parity_config());
  auto a = ids("ids77").slice(0, 0, 1).clone();
  auto b = a.clone();
  b.index_put_({0, 40}, (a.index({0, 40}).item<int64_t>() + 1) % 1000);
  const auto ha = model->forward(a), hb = model->forward(b);
  EXPECT_TRUE(torch::allclose(ha.slice(1, 0, 40), hb.slice(1, 0, 40)));
  EXPECT_FALSE(torch::allclose(ha.slice(1, 40, 41), hb.slice(1, 40, 41)));
}

TEST(ClipTextModel, TinyWithSeededWeightsEncodesPromptsDeterministically) {
  torch::NoGradGuard no_grad;
  ClipTextModel a(ClipTextConfig::tiny()), b(ClipTextConfig::tiny());
  init_seeded(*a, 7);
  init_seeded(*b, 7);
  const auto tokens = ClipTokenizer::instance().encode_padded("a photo of a cat");
  const auto input = torch::tensor(std::vector<int64_t>(tokens.begin(), tokens.end())).unsqueeze(0);
  const auto ha = a->forward(input), hb = b->forward(input);
  EXPECT_EQ(ha.sizes(), (std::vector<int64_t>{1, 77, 32}));
  EXPECT_TRUE(torch::equal(ha, hb));
  EXPECT_TRUE(torch::isfinite(ha).all().item<bool>());
}

TEST(ClipTextModel, BadInputsAreInputErrors) {
  torch::NoGradGuard no_grad;
  ClipTextModel model(parity_config());
  EXPECT_THROW(model->forward(torch::zeros({77}, torch::kInt64)), core::InputError);
  EXPECT_THROW(model->forward(torch::zeros({1, 78}, torch::kInt64)), core::InputError);
  EXPECT_THROW(model->forward(torch::zeros({1, 5}, torch::kFloat32)), core::InputError);
  EXPECT_THROW(model->forward(torch::full({1, 5}, 1000, torch::kInt64)), core::InputError);
  EXPECT_THROW(model->forward(torch::full({1, 5}, -1, torch::kInt64)), core::InputError);
  EXPECT_THROW(model->forward_hidden(torch::zeros({1, 5}, torch::kInt64), 2), core::InputError);
  auto bad = ClipTextConfig::tiny();
  bad.heads = 5;
  EXPECT_THROW(ClipTextModel{bad}, core::InputError);
}

}  // namespace
}  // namespace dsbench::diffusion
