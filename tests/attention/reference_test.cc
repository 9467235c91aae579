// dsbench's kernels against an independent python3-torch reference written the way the
// official DreamStory processor computes (scripts/fixtures/make_attention_fixtures.py).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <string>

#include "core/safetensors.h"
#include "pipeline/attention/kernels.h"

namespace dsbench::attention {
namespace {

const std::filesystem::path kFixture =
    std::filesystem::path(DSBENCH_SOURCE_DIR) / "tests/fixtures/attention/mmsa_mmca_reference.safetensors";

torch::Tensor load(const core::safetensors::File& file, const std::string& name) {
  const auto& view = file.tensor(name);
  EXPECT_EQ(view.dtype, core::safetensors::DType::kF32) << name;
  return torch::from_blob(const_cast<std::uint8_t*>(view.data), view.shape, torch::kFloat32).clone();
}

class Reference : public ::testing::Test {
 protected:
  void SetUp() override {
    file_ = std::make_unique<core::safetensors::File>(core::safetensors::File::open(kFixture));
  }
  torch::Tensor get(const std::string& name) const { return load(*file_, name); }
  std::unique_ptr<core::safetensors::File> file_;
};

TEST_F(Reference, ResizedMasksMatchTorchBilinearThenHalf) {
  const auto targets = get("target_images");
  const auto expected = get("target").to(torch::kBool);
  for (std::int64_t s = 0; s < targets.size(0); ++s) {
    EXPECT_TRUE(torch::equal(resize_mask(targets[s], 8, 12), expected[s])) << s;
  }
  const auto sources = get("source_images");
  const auto expected_source = get("source").to(torch::kBool);
  for (std::int64_t s = 0; s < sources.size(0); ++s) {
    EXPECT_TRUE(torch::equal(resize_mask(sources[s], 8, 12), expected_source[s])) << s;
  }
}

TEST_F(Reference, MmsaDenseAndGroupedMatchTheReference) {
  const auto target = get("target").to(torch::kBool);
  const auto source = get("source").to(torch::kBool);
  const auto expected = get("mmsa");
  const auto dense = mmsa_dense(get("q"), get("scene_k"), get("scene_v"), get("portrait_k"), get("portrait_v"),
                                target, source);
  const auto grouped = mmsa_grouped(get("q"), get("scene_k"), get("scene_v"), get("portrait_k"),
                                    get("portrait_v"), target, source, {16, 32});
  EXPECT_LT((dense - expected).abs().max().item<double>(), 1e-5);
  EXPECT_LT((grouped - expected).abs().max().item<double>(), 1e-5);
}

TEST_F(Reference, MmcaDenseAndGroupedMatchTheReference) {
  const auto target = get("target").to(torch::kBool);
  const auto expected = get("mmca");
  EXPECT_LT((mmca_dense(get("q"), get("text_k"), get("text_v"), target) - expected).abs().max().item<double>(), 1e-5);
  EXPECT_LT((mmca_grouped(get("q"), get("text_k"), get("text_v"), target) - expected).abs().max().item<double>(), 1e-5);
}

}  // namespace
}  // namespace dsbench::attention
