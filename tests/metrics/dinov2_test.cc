// DINOv2 in libtorch (D&C-DINO's features, DreamSim's dinov2_vitb14 backbones and the
// patch models) against the independent torch.nn reference of
// scripts/fixtures/make_dinov2_fixtures.py: the same random weights in the torch.hub and
// Hugging Face layouts, the same images, both position-embedding resizes.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "core/errors.h"
#include "core/image.h"
#include "core/safetensors.h"
#include "metrics/dinov2.h"
#include "metrics/distance.h"
#include "metrics/dreamsim.h"
#include "pipeline/diffusion/weights.h"

namespace dsbench::metrics {
namespace {

namespace fs = std::filesystem;
namespace st = core::safetensors;
const fs::path kFixtures = fs::path(DSBENCH_SOURCE_DIR) / "tests/fixtures/metrics";

const nlohmann::json& expected() {
  static const nlohmann::json json = [] {
    std::ifstream in(kFixtures / "dinov2_tiny_expected.json");
    return nlohmann::json::parse(in);
  }();
  return json;
}

std::vector<core::Image> inputs() {
  std::vector<core::Image> images;
  for (const auto& input : expected()["inputs"]) images.push_back(core::read_image(kFixtures / input["file"].get<std::string>()));
  return images;
}

std::vector<float> row(const torch::Tensor& t) {
  const auto c = t.contiguous().to(torch::kFloat32);
  return {c.data_ptr<float>(), c.data_ptr<float>() + c.numel()};
}

void expect_near(const std::vector<float>& got, const std::vector<float>& want, double tolerance, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double worst = 0;
  for (std::size_t i = 0; i < got.size(); ++i) worst = std::max(worst, double(std::abs(got[i] - want[i])));
  EXPECT_LE(worst, tolerance) << what;
}

// A ViT with the tiny DINOv2 layout loaded from the hub-layout fixture (mask_token dropped).
VisionTransformer hub_network(Feature feature, PositionInterpolation interpolation) {
  VitConfig config = tiny_vit_config(dinov2_vit_config());
  config.feature = feature;
  config.interpolation = interpolation;
  VisionTransformer network(config);
  network->eval();
  diffusion::load_weights(*network, {kFixtures / "dinov2_tiny/hub.safetensors"},
                          [](const std::string& key) { return key == "mask_token" ? std::string() : key; });
  return network;
}

TEST(Dinov2, PositionEmbeddingResizesMatchTorchInBothModes) {
  for (const auto& [mode, key] : {std::pair{PositionInterpolation::scale_offset, "pos_offset"},
                                  std::pair{PositionInterpolation::size, "pos_size"}}) {
    const auto network = hub_network(Feature::cls, mode);
    const auto position = network->position_embedding();
    ASSERT_EQ(position.sizes(), (std::vector<std::int64_t>{1, 257, 32}));
    expect_near(row(position.index({0, torch::indexing::Slice(1)})), expected()[key].get<std::vector<float>>(), 1e-5,
                key);
  }
  // The two resizes differ (else the test could not tell them apart).
  const auto a = hub_network(Feature::cls, PositionInterpolation::scale_offset)->position_embedding();
  const auto b = hub_network(Feature::cls, PositionInterpolation::size)->position_embedding();
  EXPECT_GT((a - b).abs().max().item<float>(), 1e-4);
}

TEST(Dinov2, PreprocessingIsBitImageProcessorsFloorCrop) {
  const auto images = inputs();
  const auto model = Dinov2::random("tiny-dinov2_vitb14", 0);
  const auto pixels = model.preprocess(images);
  const long stride = expected()["config"]["pixel_stride"].get<long>();
  for (std::size_t i = 0; i < images.size(); ++i) {
    const auto& want = expected()["inputs"][i];
    const auto flat = pixels[long(i)].reshape({-1});
    expect_near(row(flat.index({torch::indexing::Slice(0, torch::indexing::None, stride)})),
                want["hf_pixels_sampled"].get<std::vector<float>>(), 1e-5, "pixels of input " + std::to_string(i));
    EXPECT_NEAR(flat.to(torch::kFloat64).sum().item<double>(), want["hf_pixels_sum"].get<double>(), 1e-2);
  }
  // The odd input's top margin is 115 pixels: Hugging Face floors it to 57 (torchvision
  // would round to 58), which the sampled pixels above pin down.
  EXPECT_EQ(expected()["inputs"][2]["hf_crop"][0].get<int>(), 57);
}

TEST(Dinov2, MeanTokenFeaturesMatchTheReferenceInBothLayouts) {
  const auto images = inputs();
  const auto hub = Dinov2::load("tiny-dinov2_vitb14", kFixtures / "dinov2_tiny/hub.safetensors");
  const auto hf = Dinov2::load("tiny-dinov2_vitb14", kFixtures / "dinov2_tiny/hf.safetensors");
  EXPECT_EQ(hub.embedding_size(), 32);
  const auto from_hub = hub.embed_pixels(hub.preprocess(images));
  const auto from_hf = hf.embed_pixels(hf.preprocess(images));
  EXPECT_TRUE(torch::allclose(from_hub, from_hf, 0, 0)) << "the two layouts hold the same weights";
  for (std::size_t i = 0; i < images.size(); ++i) {
    expect_near(row(from_hf[long(i)]), expected()["inputs"][i]["hf_mean_token"].get<std::vector<float>>(), 1e-4,
                "mean token of input " + std::to_string(i));
  }
  // With the torch.hub resize instead: the reference's other value, and a different one.
  auto offset = hub_network(Feature::mean_token, PositionInterpolation::scale_offset);
  torch::NoGradGuard no_grad;
  const auto with_offset = offset->forward(hub.preprocess(images));
  for (std::size_t i = 0; i < images.size(); ++i) {
    expect_near(row(with_offset[long(i)]), expected()["inputs"][i]["hub_mean_token_offset"].get<std::vector<float>>(),
                1e-4, "offset mean token of input " + std::to_string(i));
  }
  EXPECT_GT((with_offset - from_hub).abs().max().item<float>(), 1e-6);
}

TEST(Dinov2, LayoutsAreDetectedAndBadFilesNamed) {
  const fs::path dir = fs::temp_directory_path() / ("dinov2_bad_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const auto copy_without = [&](const fs::path& from, const fs::path& to, const std::string& dropped,
                                const std::string& reshaped) {
    const auto file = st::File::open(from);
    std::map<std::string, st::OwnedTensor> tensors;
    for (const auto& name : file.names()) {
      if (name == dropped) continue;
      const auto& view = file.tensor(name);
      st::OwnedTensor tensor{view.dtype, view.shape, {view.data, view.data + view.bytes}};
      if (name == reshaped) tensor.shape = {1, static_cast<std::int64_t>(view.bytes / 4)};
      tensors[name] = tensor;
    }
    st::write(to, tensors);
  };
  copy_without(kFixtures / "dinov2_tiny/hf.safetensors", dir / "hf.safetensors",
               "encoder.layer.1.attention.attention.key.bias", "encoder.layer.0.layer_scale2.lambda1");
  try {
    Dinov2::load("tiny-dinov2_vitb14", dir / "hf.safetensors");
    FAIL() << "expected an InputError";
  } catch (const core::InputError& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("Hugging Face"), std::string::npos) << message;
    EXPECT_NE(message.find("encoder.layer.1.attention.attention.key.bias"), std::string::npos) << message;
    EXPECT_NE(message.find("encoder.layer.0.layer_scale2.lambda1"), std::string::npos) << message;
  }
  copy_without(kFixtures / "dinov2_tiny/hub.safetensors", dir / "hub.safetensors", "blocks.0.ls1.gamma", "");
  try {
    Dinov2::load("tiny-dinov2_vitb14", dir / "hub.safetensors");
    FAIL() << "expected an InputError";
  } catch (const core::InputError& error) {
    EXPECT_NE(std::string(error.what()).find("blocks.0.ls1.gamma"), std::string::npos) << error.what();
  }
  copy_without(kFixtures / "dinov2_tiny/hub.safetensors", dir / "neither.safetensors", "cls_token", "");
  EXPECT_THROW(Dinov2::load("tiny-dinov2_vitb14", dir / "neither.safetensors"), core::InputError);
  EXPECT_THROW(Dinov2::load("tiny-dinov2_vitb14", dir / "absent.safetensors"), core::InputError);
  EXPECT_THROW(Dinov2::random("dinov2_vitg14", 0), core::InputError);
  // The real ViT-B/14's shapes do not fit the tiny file: every mismatch is named.
  EXPECT_THROW(Dinov2::load("dinov2_vitb14", kFixtures / "dinov2_tiny/hf.safetensors"), core::InputError);
  fs::remove_all(dir);
}

TEST(DreamSimDinov2, ClsBackboneMatchesTheReference) {
  const auto images = inputs();
  const auto model = DreamSim::load("tiny-dinov2_vitb14", kFixtures / "dreamsim_tiny_dinov2");
  const auto embeddings = model.embed(images, 2);
  for (std::size_t i = 0; i < images.size(); ++i) {
    expect_near(row(embeddings[long(i)]), expected()["inputs"][i]["dreamsim_dinov2_cls"].get<std::vector<float>>(),
                1e-4, "dinov2 cls of input " + std::to_string(i));
  }
  const auto a = row(embeddings[0]), b = row(embeddings[1]);
  EXPECT_NEAR(dreamsim_distance(a, b), expected()["dreamsim_dinov2_cls_packaged_distance_01"].get<double>(), 1e-5);
}

TEST(DreamSimDinov2, PatchModelsAreNormalisedPerTokenThenPooled) {
  const auto images = inputs();
  const auto dinov2 = DreamSim::load("tiny-dinov2_vitb14_patch", kFixtures / "dreamsim_tiny_dinov2");
  const auto dino = DreamSim::load("tiny-dino_vitb16_patch", kFixtures / "dreamsim_tiny_patch");
  EXPECT_EQ(dinov2.embedding_size(), 64);
  const auto from_dinov2 = dinov2.embed(images, 1);
  const auto from_dino = dino.embed(images, 3);
  for (std::size_t i = 0; i < images.size(); ++i) {
    const auto& want = expected()["inputs"][i];
    expect_near(row(from_dinov2[long(i)]), want["dreamsim_dinov2_patch"].get<std::vector<float>>(), 1e-4,
                "dinov2 patch of input " + std::to_string(i));
    expect_near(row(from_dino[long(i)]), want["dreamsim_dino_patch"].get<std::vector<float>>(), 1e-4,
                "dino patch of input " + std::to_string(i));
  }
  const auto a = row(from_dinov2[0]), b = row(from_dinov2[1]);
  // Both halves are zero-mean: the packaged and the plain cosine distance agree.
  EXPECT_NEAR(dreamsim_distance(a, b), expected()["dreamsim_dinov2_patch_distance_01"].get<double>(), 1e-5);
  EXPECT_NEAR(dreamsim_distance(a, b, DistanceForm::uncentred), dreamsim_distance(a, b), 1e-9);
}

TEST(DreamSimDinov2, WeightsConvertedForAnotherModelAreRefused) {
  // dreamsim_tiny_dinov2/dinov2_vitb14_patch.safetensors says dreamsim_model
  // dinov2_vitb14_patch; asking for it as dinov2_vitb14 needs the file dinov2_vitb14, which
  // says dinov2_vitb14: fine. Copy the patch file under the plain name to provoke it.
  const fs::path dir = fs::temp_directory_path() / ("dreamsim_other_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  fs::copy_file(kFixtures / "dreamsim_tiny_dinov2/dinov2_vitb14_patch.safetensors", dir / "dinov2_vitb14.safetensors");
  try {
    DreamSim::load("tiny-dinov2_vitb14", dir);
    FAIL() << "expected an InputError";
  } catch (const core::InputError& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("dinov2_vitb14_patch"), std::string::npos) << message;
    EXPECT_NE(message.find("dreamsim_model"), std::string::npos) << message;
  }
  fs::remove_all(dir);
}

TEST(DreamSimDinov2, FullSizeShapesAndNames) {
  const auto dinov2 = dreamsim_backbones("dinov2_vitb14");
  ASSERT_EQ(dinov2.size(), 1u);
  EXPECT_EQ(dinov2[0].config.patch, 14);
  EXPECT_EQ(dinov2[0].config.stored_grid(), 37);
  EXPECT_EQ(dinov2[0].config.feature_size(), 768);
  EXPECT_EQ(dreamsim_backbones("dinov2_vitb14_patch")[0].config.feature_size(), 1536);
  EXPECT_EQ(dreamsim_backbones("dinov2_vitb14_patch")[0].name, "dinov2_vitb14_patch");
  const auto synclr = dreamsim_backbones("synclr_vitb16");
  EXPECT_EQ(synclr[0].config.patch, 16);
  EXPECT_FALSE(synclr[0].config.layer_scale);
  // The tiny DINOv2 names are the hub file's, minus the training-only mask token.
  const auto model = DreamSim::random("tiny-dinov2_vitb14", 3);
  std::vector<std::string> names;
  for (const auto& p : model.backbone(0)->named_parameters()) names.push_back(p.key());
  std::sort(names.begin(), names.end());
  auto file_names = st::File::open(kFixtures / "dreamsim_tiny_dinov2/dinov2_vitb14.safetensors").names();
  EXPECT_EQ(names, file_names);
  // Random weights: layer scale parameters exist and the embedding is finite.
  const auto embedding = model.embed({inputs()[0]});
  EXPECT_TRUE(torch::isfinite(embedding).all().item<bool>());
}

}  // namespace
}  // namespace dsbench::metrics
