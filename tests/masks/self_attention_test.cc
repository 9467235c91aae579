// Masks carried through self-attention (DreamStory's masks without a segmenter): the
// series by hand (a block-averaging self-attention fills the block; a diagonal one gives
// the scalar polynomial), parity with an independent torch reference
// (scripts/fixtures/make_mask_fixtures.py), default off unchanged, and the error paths.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/errors.h"
#include "core/files.h"
#include "pipeline/masks/masks.h"

namespace dsbench::masks {
namespace {

using attention::RecordedMap;

torch::Tensor tensor_of(const nlohmann::json& values, std::vector<std::int64_t> shape) {
  return torch::tensor(values.get<std::vector<double>>(), torch::kDouble).view(shape).to(torch::kFloat);
}

double max_difference(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>();
}

const nlohmann::json& fixture() {
  static const nlohmann::json document = nlohmann::json::parse(
      core::read_file(std::filesystem::path(DSBENCH_SOURCE_DIR) / "tests/fixtures/masks/self_attention.json"));
  return document;
}

attention::LayerId layer_id(int transformer, int call_index, const std::string& name) {
  attention::LayerId id;
  id.block = attention::UNetBlock::kDown;
  id.level = 1;
  id.transformer = transformer;
  id.call_index = call_index;
  id.name = name;
  return id;
}

RecordedMap recorded(const attention::LayerId& layer, int side, torch::Tensor probabilities,
                     std::vector<int> rows = {}) {
  return {layer, 0, side, side, std::move(probabilities), std::move(rows)};
}

AttentionMaskOptions plain_options(int side) {
  AttentionMaskOptions options;
  options.height = side;
  options.width = side;
  options.morphology_kernel = 0;
  options.min_area = 0.0;
  return options;
}

// 4x4 grid: left half (x < 2) tokens attend uniformly within the left half, the right half
// attends to itself. Block averaging is idempotent (A^k = A), so every series is a multiple
// of A: released N = 4 has coefficients summing to 12 (→ 12/4 = 3 A), the power mean 4 A / 4.
torch::Tensor block_self_attention() {
  auto a = torch::zeros({16, 16});
  for (int q = 0; q < 16; ++q) {
    if (q % 4 < 2) {
      for (int k = 0; k < 16; ++k)
        if (k % 4 < 2) a[q][k] = 1.0f / 8.0f;
    } else {
      a[q][q] = 1.0f;
    }
  }
  return a;
}

// Cross-attention of one row, 3 tokens: background 0.5 everywhere, the subject (token 1) a
// single hot pixel at (0, 0) inside the left block.
torch::Tensor hot_pixel_cross() {
  auto p = torch::zeros({1, 16, 3});
  p.select(2, 0).fill_(0.5f);
  p[0][0][1] = 1.0f;
  return p;
}

TEST(SelfAttentionRefinement, BlockSelfAttentionFillsTheBlockByHand) {
  const auto a = block_self_attention();
  auto m = torch::zeros({1, 16});
  m[0][0] = 1.0f;
  auto left = torch::zeros({1, 16});
  for (int n = 0; n < 16; ++n)
    if (n % 4 < 2) left[0][n] = 1.0f;
  EXPECT_LT(max_difference(refine_through_self_attention(a, m, 1), left / 8.0), 1e-7);
  EXPECT_LT(max_difference(refine_through_self_attention(a, m, 4), left * 3.0 / 8.0), 1e-7);
  EXPECT_LT(max_difference(refine_through_self_attention(a, m, 4, SelfAttentionSeries::kPowerMean), left / 8.0), 1e-7);
}

TEST(SelfAttentionRefinement, DiagonalSelfAttentionGivesTheScalarSeries) {
  // A = 0.5·I: released N = 4 → (λ + λ² + λ³ + 2λ⁴ + 2λ⁵ + 2λ⁶ + 2λ⁷ + λ⁸)/4 at λ = 0.5.
  const auto a = torch::eye(3) * 0.5;
  const auto m = torch::ones({2, 3});
  const double released = (0.5 + 0.25 + 0.125 + 2 * (0.0625 + 0.03125 + 0.015625 + 0.0078125) + 0.00390625) / 4;
  EXPECT_DOUBLE_EQ(released, 0.2783203125);
  EXPECT_LT(max_difference(refine_through_self_attention(a, m, 4), torch::full({2, 3}, released)), 1e-7);
  EXPECT_LT(max_difference(refine_through_self_attention(a, m, 4, SelfAttentionSeries::kPowerMean),
                           torch::full({2, 3}, (0.5 + 0.25 + 0.125 + 0.0625) / 4)),
            1e-7);
  // N = 2: both series are (A + A²)/2.
  EXPECT_LT(max_difference(refine_through_self_attention(a, m, 2), torch::full({2, 3}, 0.375)), 1e-7);
  EXPECT_LT(max_difference(refine_through_self_attention(a, m, 2, SelfAttentionSeries::kPowerMean),
                           torch::full({2, 3}, 0.375)),
            1e-7);
}

TEST(SelfAttentionRefinement, MatchesTheTorchReference) {
  const auto& c = fixture()["refine"];
  const std::int64_t n = c["n"];
  const std::int64_t k = c["k"];
  const auto a = tensor_of(c["self_attention"], {n, n});
  const auto m = tensor_of(c["maps"], {k, n});
  for (int passes = 1; passes <= 4; ++passes) {
    const auto key = std::to_string(passes);
    EXPECT_LT(max_difference(refine_through_self_attention(a, m, passes), tensor_of(c["released"][key], {k, n})), 1e-5)
        << passes;
    EXPECT_LT(max_difference(refine_through_self_attention(a, m, passes, SelfAttentionSeries::kPowerMean),
                             tensor_of(c["power_mean"][key], {k, n})),
              1e-5)
        << passes;
  }
  // The two series really differ from 3 passes on (else the choice would be untested).
  EXPECT_GT(max_difference(tensor_of(c["released"]["3"], {k, n}), tensor_of(c["power_mean"]["3"], {k, n})), 1e-3);
}

TEST(MasksThroughSelfAttention, HotPixelGrowsToTheBlock) {
  const auto cross = recorded(layer_id(0, 1, "down.attn2"), 4, hot_pixel_cross());
  const auto self = recorded(layer_id(0, 0, "down.attn1"), 4, block_self_attention().unsqueeze(0));
  auto options = plain_options(4);
  const auto alone = masks_from_attention({cross}, 0, {{1}}, options, {self});
  auto pixel = torch::zeros({4, 4}, torch::kBool);
  pixel[0][0] = true;
  EXPECT_TRUE(torch::equal(alone[0], pixel)) << alone[0];
  auto left = torch::zeros({4, 4}, torch::kBool);
  left.slice(1, 0, 2).fill_(true);
  for (const int passes : {1, 4}) {
    options.self_attention_passes = passes;
    const auto refined = masks_from_attention({cross}, 0, {{1}}, options, {self});
    EXPECT_TRUE(torch::equal(refined[0], left)) << passes << "\n" << refined[0];
  }
}

TEST(MasksThroughSelfAttention, MatchesTheTorchReference) {
  const auto& c = fixture()["masks"];
  const std::int64_t batch = c["batch"];
  const std::int64_t tokens = c["tokens"];
  const int size = c["size"];
  std::vector<RecordedMap> cross;
  std::vector<RecordedMap> self;
  int transformer = 0;
  for (const auto& layer : c["layers"]) {
    const std::int64_t side = layer["side"];
    const auto n = side * side;
    cross.push_back(recorded(layer_id(transformer, 2 * transformer + 1, "attn2"), static_cast<int>(side),
                             tensor_of(layer["cross"], {batch, n, tokens})));
    self.push_back(recorded(layer_id(transformer, 2 * transformer, "attn1"), static_cast<int>(side),
                            tensor_of(layer["self"], {batch, n, n})));
    ++transformer;
  }
  auto options = plain_options(size);
  options.self_attention_passes = c["passes"];
  const auto subject_tokens = c["subject_tokens"].get<std::vector<std::vector<int>>>();
  const auto masks = masks_from_attention(cross, c["row"], subject_tokens, options, self);
  const auto winner = torch::tensor(c["winner"].get<std::vector<std::int64_t>>()).view({size, size});
  ASSERT_EQ(masks.size(), 2u);
  for (std::size_t s = 0; s < masks.size(); ++s) {
    EXPECT_TRUE(torch::equal(masks[s], winner == static_cast<std::int64_t>(s + 1))) << s;
  }
  // Self maps recorded for the scene row only (rows = {row}) give the same masks.
  std::vector<RecordedMap> row_only;
  for (const auto& map : self) {
    row_only.push_back(map);
    row_only.back().probabilities = map.probabilities.slice(0, c["row"].get<int>(), c["row"].get<int>() + 1);
    row_only.back().rows = {c["row"].get<int>()};
  }
  const auto again = masks_from_attention(cross, c["row"], subject_tokens, options, row_only);
  for (std::size_t s = 0; s < masks.size(); ++s) EXPECT_TRUE(torch::equal(again[s], masks[s])) << s;
  // And without the self-attention pass the answer is a different one (the pass matters here).
  options.self_attention_passes = 0;
  const auto plain = masks_from_attention(cross, c["row"], subject_tokens, options, self);
  EXPECT_FALSE(torch::equal(plain[0], masks[0]) && torch::equal(plain[1], masks[1]));
}

TEST(MasksThroughSelfAttention, OffByDefaultIgnoresSelfMaps) {
  const auto cross = recorded(layer_id(0, 1, "down.attn2"), 4, hot_pixel_cross());
  const auto self = recorded(layer_id(0, 0, "down.attn1"), 4, block_self_attention().unsqueeze(0));
  EXPECT_EQ(AttentionMaskOptions{}.self_attention_passes, 0);
  const auto options = plain_options(4);
  const auto without = masks_from_attention({cross}, 0, {{1}}, options);
  const auto with = masks_from_attention({cross}, 0, {{1}}, options, {self});
  EXPECT_TRUE(torch::equal(without[0], with[0]));
}

std::string run_error(const std::function<void()>& action) {
  try {
    action();
  } catch (const core::RunError& e) {
    return e.what();
  }
  return "";
}

TEST(MasksThroughSelfAttention, MissingSelfMapsAreRunErrorsNamingWhatIsMissing) {
  const auto cross = recorded(layer_id(0, 1, "down.attn2"), 4, hot_pixel_cross());
  auto options = plain_options(4);
  options.self_attention_passes = 4;
  const auto none = run_error([&] { masks_from_attention({cross}, 0, {{1}}, options); });
  EXPECT_NE(none.find("none were recorded"), std::string::npos) << none;
  EXPECT_NE(none.find("SelfAttentionRecording"), std::string::npos) << none;

  const auto other_block = recorded(layer_id(1, 2, "up.attn1"), 4, block_self_attention().unsqueeze(0));
  const auto unpaired = run_error([&] { masks_from_attention({cross}, 0, {{1}}, options, {other_block}); });
  EXPECT_NE(unpaired.find("down.attn2"), std::string::npos) << unpaired;
  EXPECT_NE(unpaired.find("step 0"), std::string::npos) << unpaired;

  // Two cross maps of one block (two forwards per step) but a single self map.
  const auto self = recorded(layer_id(0, 0, "down.attn1"), 4, block_self_attention().unsqueeze(0));
  EXPECT_NO_THROW(masks_from_attention({cross}, 0, {{1}}, options, {self}));
  EXPECT_THROW(masks_from_attention({cross, cross}, 0, {{1}}, options, {self}), core::RunError);

  const auto other_row = recorded(layer_id(0, 0, "down.attn1"), 4, block_self_attention().unsqueeze(0), {3});
  const auto wrong_row = run_error([&] { masks_from_attention({cross}, 0, {{1}}, options, {other_row}); });
  EXPECT_NE(wrong_row.find("batch row 0"), std::string::npos) << wrong_row;

  EXPECT_THROW(refine_through_self_attention(torch::ones({4, 4}), torch::ones({1, 5}), 1), core::RunError);
  EXPECT_THROW(refine_through_self_attention(torch::ones({4, 5}), torch::ones({1, 4}), 1), core::RunError);
}

TEST(MasksThroughSelfAttention, PassCountOutsideTheRangeIsAnInputError) {
  const auto cross = recorded(layer_id(0, 1, "down.attn2"), 4, hot_pixel_cross());
  auto options = plain_options(4);
  options.self_attention_passes = -1;
  EXPECT_THROW(masks_from_attention({cross}, 0, {{1}}, options), core::InputError);
  options.self_attention_passes = kMaxSelfAttentionPasses + 1;
  EXPECT_THROW(masks_from_attention({cross}, 0, {{1}}, options), core::InputError);
  EXPECT_THROW(refine_through_self_attention(torch::eye(2), torch::ones({1, 2}), 0), core::InputError);
}

}  // namespace
}  // namespace dsbench::masks
