// DreamSim in libtorch against the independent torch.nn reference
// (scripts/fixtures/make_dreamsim_fixtures.py): same random weights, same images.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/errors.h"
#include "core/safetensors.h"
#include "metrics/distance.h"
#include "metrics/dreamsim.h"

namespace dsbench::metrics {
namespace {

namespace fs = std::filesystem;
const fs::path kFixtures = fs::path(DSBENCH_SOURCE_DIR) / "tests/fixtures/metrics";

nlohmann::json expected() {
  std::ifstream in(kFixtures / "dreamsim_tiny_expected.json");
  return nlohmann::json::parse(in);
}

TEST(DreamSim, TinyEnsembleMatchesTorchReferenceWithin1e4) {
  const auto model = DreamSim::load("tiny-ensemble", kFixtures / "dreamsim_tiny");
  EXPECT_EQ(model.embedding_size(), 32 + 16 + 16);
  const std::vector<core::Image> images{core::read_image(kFixtures / "dreamsim_inputs_0.png"),
                                        core::read_image(kFixtures / "dreamsim_inputs_1.png")};
  const auto embeddings = model.embed(images, 1);  // batch 1 and batch 2 must agree
  const auto batched = model.embed(images, 2);
  EXPECT_TRUE(torch::allclose(embeddings, batched, 1e-5, 1e-5));
  const auto reference = expected();
  for (int i = 0; i < 2; ++i) {
    const auto want = reference["embeddings"][i].get<std::vector<float>>();
    ASSERT_EQ(static_cast<int>(want.size()), model.embedding_size());
    for (int d = 0; d < model.embedding_size(); ++d) {
      EXPECT_NEAR(embeddings[i][d].item<float>(), want[d], 1e-4) << "image " << i << " dim " << d;
    }
  }
  const auto a = embeddings[0].contiguous();
  const auto b = embeddings[1].contiguous();
  const double distance = dreamsim_distance({a.data_ptr<float>(), 64}, {b.data_ptr<float>(), 64});
  EXPECT_NEAR(distance, reference["packaged_distance"].get<double>(), 1e-5);
  EXPECT_GT(distance, 0.01);  // random weights still tell the two images apart
}

TEST(DreamSim, SingleBackboneUsesItsOwnFile) {
  const auto model = DreamSim::load("tiny-clip_vitb16", kFixtures / "dreamsim_tiny");
  const auto embedding = model.embed({core::read_image(kFixtures / "dreamsim_inputs_0.png")});
  const auto want = expected()["embeddings"][0].get<std::vector<float>>();
  ASSERT_EQ(embedding.size(1), 16);
  for (int d = 0; d < 16; ++d) EXPECT_NEAR(embedding[0][d].item<float>(), want[32 + d], 1e-4);
}

TEST(DreamSim, ParameterNamesMirrorTheCheckpoints) {
  const auto model = DreamSim::random("tiny-ensemble", 1);
  std::vector<std::string> dino, clip;
  for (const auto& p : model.backbone(0)->named_parameters()) dino.push_back(p.key());
  for (const auto& p : model.backbone(1)->named_parameters()) clip.push_back(p.key());
  const auto file = core::safetensors::File::open(kFixtures / "dreamsim_tiny/clip_vitb16.safetensors");
  std::sort(clip.begin(), clip.end());
  EXPECT_EQ(clip, file.names());
  EXPECT_NE(std::find(dino.begin(), dino.end(), "blocks.1.attn.qkv.weight"), dino.end());
  EXPECT_EQ(std::find(dino.begin(), dino.end(), "proj"), dino.end());
  EXPECT_NE(model.model_id().find("random"), std::string::npos);
}

TEST(DreamSim, FullSizeShapes) {
  const auto specs = dreamsim_backbones("ensemble");
  ASSERT_EQ(specs.size(), 3u);
  int total = 0;
  for (const auto& spec : specs) total += spec.config.feature_size();
  EXPECT_EQ(total, 1792);
  EXPECT_EQ(dreamsim_backbones("clip_vitb32").front().config.patch, 32);
  EXPECT_THROW(dreamsim_backbones("vit_huge"), core::InputError);
}

TEST(DreamSim, LoaderNamesMissingAndMisShapedKeys) {
  const fs::path dir = fs::temp_directory_path() / ("dreamsim_bad_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const auto good = core::safetensors::File::open(kFixtures / "dreamsim_tiny/dino_vitb16.safetensors");
  std::map<std::string, core::safetensors::OwnedTensor> tensors;
  for (const auto& name : good.names()) {
    if (name == "blocks.0.norm1.bias") continue;  // missing
    const auto& view = good.tensor(name);
    core::safetensors::OwnedTensor tensor{view.dtype, view.shape, {view.data, view.data + view.bytes}};
    if (name == "cls_token") {  // mis-shaped
      tensor.shape = {1, 32};
    }
    tensors[name] = tensor;
  }
  core::safetensors::write(dir / "dino_vitb16.safetensors", tensors);
  try {
    DreamSim::load("tiny-dino_vitb16", dir);
    FAIL() << "expected an InputError";
  } catch (const core::InputError& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("blocks.0.norm1.bias"), std::string::npos) << message;
    EXPECT_NE(message.find("cls_token"), std::string::npos) << message;
  }
  EXPECT_THROW(DreamSim::load("tiny-clip_vitb16", dir), core::InputError);  // no file at all
  fs::remove_all(dir);
}

}  // namespace
}  // namespace dsbench::metrics
