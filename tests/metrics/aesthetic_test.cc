// The LAION aesthetic predictor against the independent torch.nn reference of
// scripts/fixtures/make_aesthetic_fixtures.py (the published nn.Sequential plus numpy's
// normalized()), on seeded random weights with input 768 (F16 file) and 16 (F32 file).
#include <gtest/gtest.h>

#include <filesystem>
#include <limits>
#include <map>
#include <string>

#include "core/errors.h"
#include "core/files.h"
#include "core/safetensors.h"
#include "metrics/aesthetic.h"
#include "pipeline/diffusion/weights.h"

namespace dsbench::metrics {
namespace {

namespace fs = std::filesystem;
namespace st = core::safetensors;
using Checkpoint = std::map<std::string, st::OwnedTensor>;

const fs::path kFixtures = fs::path(DSBENCH_SOURCE_DIR) / "tests/fixtures/metrics/aesthetic";
constexpr double kTolerance = 1e-4;

fs::path weights_file(int input_size) { return kFixtures / ("mlp" + std::to_string(input_size) + ".safetensors"); }

torch::Tensor case_tensor(const std::string& name) {
  const auto cases = st::File::open(kFixtures / "cases.safetensors");
  return diffusion::to_tensor(cases.tensor(name));
}


// The InputError message of loading `checkpoint` (written to a temporary file) as input 16.
std::string load_error(const Checkpoint& checkpoint) {
  const core::TemporaryDirectory directory("aesthetic_test");
  const auto file = directory.path() / "edited.safetensors";
  st::write(file, checkpoint);
  try {
    AestheticPredictor::load(file, 16);
  } catch (const core::InputError& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find(file.string()), std::string::npos) << message;
    return message;
  }
  ADD_FAILURE() << "loaded an edited checkpoint";
  return "";
}

std::string score_error(const AestheticPredictor& predictor, const torch::Tensor& input) {
  try {
    predictor.score(input);
  } catch (const core::InputError& error) {
    return error.what();
  }
  ADD_FAILURE() << "scored " << (input.defined() ? c10::str(input.sizes()) : "an undefined tensor");
  return "";
}

class AestheticParity : public ::testing::TestWithParam<int> {};

TEST_P(AestheticParity, MatchesTheReferenceMlpOnNormalisedEmbeddings) {
  const int input_size = GetParam();
  const auto predictor = AestheticPredictor::load(weights_file(input_size), input_size);
  EXPECT_EQ(predictor.input_size(), input_size);
  EXPECT_NE(predictor.model_id().find("in" + std::to_string(input_size)), std::string::npos);
  EXPECT_NE(predictor.model_id().find("sha256-"), std::string::npos);
  EXPECT_EQ(predictor.model_id().find("random"), std::string::npos);

  const std::string prefix = "in" + std::to_string(input_size) + ".";
  const auto embeddings = case_tensor(prefix + "embeddings");
  const auto expected = case_tensor(prefix + "scores");
  const auto scores = predictor.score(embeddings);
  ASSERT_EQ(scores.sizes(), expected.sizes());
  EXPECT_EQ(scores.scalar_type(), torch::kFloat32);
  for (std::int64_t i = 0; i < expected.size(0); ++i) {
    EXPECT_NEAR(scores[i].item<double>(), expected[i].item<double>(), kTolerance) << "row " << i;
  }
  RecordProperty("max_abs_error", c10::str((scores - expected).abs().max().item<double>()));
  // The fixture rows differ by more than the tolerance, so a broken layer cannot pass.
  EXPECT_GT((expected.max() - expected.min()).item<double>(), 100 * kTolerance);
}

INSTANTIATE_TEST_SUITE_P(InputSizes, AestheticParity, ::testing::Values(768, 16));

TEST(Aesthetic, ScoresDoNotDependOnTheEmbeddingScaleOrDtype) {
  const auto predictor = AestheticPredictor::load(weights_file(16), 16);
  const auto embeddings = case_tensor("in16.embeddings").index({torch::indexing::Slice(0, 3)});
  const auto scores = predictor.score(embeddings);
  EXPECT_TRUE(torch::allclose(predictor.score(embeddings * 123.0), scores, 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(predictor.score(embeddings.to(torch::kFloat64)), scores, 1e-5, 1e-5));
  // One row at a time gives the batch's values.
  for (std::int64_t i = 0; i < 3; ++i) {
    EXPECT_NEAR(predictor.score(embeddings.index({torch::indexing::Slice(i, i + 1)}))[0].item<double>(),
                scores[i].item<double>(), 1e-6);
  }
}

TEST(Aesthetic, RandomWeightsAreSeededAndSayRandom) {
  const auto a = AestheticPredictor::random(16, 7);
  const auto b = AestheticPredictor::random(16, 7);
  const auto c = AestheticPredictor::random(16, 8);
  EXPECT_NE(a.model_id().find("random"), std::string::npos);
  EXPECT_EQ(a.model_id(), b.model_id());
  EXPECT_NE(a.model_id(), c.model_id());
  const auto embeddings = case_tensor("in16.embeddings");
  const auto scores = a.score(embeddings);
  EXPECT_TRUE(torch::equal(scores, b.score(embeddings)));
  EXPECT_FALSE(torch::allclose(scores, c.score(embeddings)));
  EXPECT_TRUE(torch::isfinite(scores).all().item<bool>());
  EXPECT_EQ(AestheticPredictor::random(768, 1).score(torch::ones({2, 768})).sizes(), torch::IntArrayRef({2}));
}

TEST(Aesthetic, LoadingNamesMissingMisShapedAndUnexpectedKeys) {
  const auto original = st::read_all(weights_file(16));

  auto missing = original;
  missing.erase("layers.7.bias");
  const auto missing_message = load_error(missing);
  EXPECT_NE(missing_message.find("missing"), std::string::npos) << missing_message;
  EXPECT_NE(missing_message.find("layers.7.bias"), std::string::npos) << missing_message;

  auto misshaped = original;
  misshaped["layers.4.bias"] = misshaped.at("layers.6.bias");  // [16] where [64] belongs
  const auto misshaped_message = load_error(misshaped);
  EXPECT_NE(misshaped_message.find("mis-shaped"), std::string::npos) << misshaped_message;
  EXPECT_NE(misshaped_message.find("layers.4.bias"), std::string::npos) << misshaped_message;

  auto unexpected = original;
  unexpected["layers.9.weight"] = original.at("layers.7.weight");  // as in the ReLU variant
  const auto unexpected_message = load_error(unexpected);
  EXPECT_NE(unexpected_message.find("unexpected"), std::string::npos) << unexpected_message;
  EXPECT_NE(unexpected_message.find("layers.9.weight"), std::string::npos) << unexpected_message;
}

TEST(Aesthetic, LoadingRefusesTheWrongInputSizeAndMissingFiles) {
  try {
    AestheticPredictor::load(weights_file(16));  // default input 768
    ADD_FAILURE() << "loaded 16-wide weights as a 768-wide predictor";
  } catch (const core::InputError& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("layers.0.weight"), std::string::npos) << message;
    EXPECT_NE(message.find("[1024,16]"), std::string::npos) << message;
  }
  const auto absent = kFixtures / "absent.safetensors";
  try {
    AestheticPredictor::load(absent);
    ADD_FAILURE() << "loaded a missing file";
  } catch (const core::InputError& error) {
    EXPECT_NE(std::string(error.what()).find(absent.string()), std::string::npos) << error.what();
  }
  EXPECT_THROW(AestheticPredictor::load(weights_file(16), 0), core::InputError);
  EXPECT_THROW(AestheticPredictor::random(-1, 0), core::InputError);
}

TEST(Aesthetic, ScoringRefusesBadInput) {
  const auto predictor = AestheticPredictor::random(16, 3);
  EXPECT_NE(score_error(predictor, torch::ones({2, 768})).find("[batch, 16]"), std::string::npos);
  EXPECT_NE(score_error(predictor, torch::ones({0, 16})).find("non-empty"), std::string::npos);
  EXPECT_NE(score_error(predictor, torch::ones({16})).find("[batch, 16]"), std::string::npos);
  EXPECT_NE(score_error(predictor, torch::ones({2, 16}, torch::kInt64)).find("float"), std::string::npos);
  EXPECT_NE(score_error(predictor, torch::Tensor()).find("none"), std::string::npos);
  auto with_nan = torch::ones({2, 16});
  with_nan[1][3] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_NE(score_error(predictor, with_nan).find("finite"), std::string::npos);
  auto with_infinity = torch::ones({2, 16});
  with_infinity[0][0] = std::numeric_limits<float>::infinity();
  EXPECT_NE(score_error(predictor, with_infinity).find("finite"), std::string::npos);
}

}  // namespace
}  // namespace dsbench::metrics
