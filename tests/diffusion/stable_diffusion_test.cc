#include "pipeline/diffusion/stable_diffusion.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <map>

#include "core/errors.h"
#include "core/safetensors.h"
#include "pipeline/diffusion/weights.h"

namespace dsbench::diffusion {
namespace {

SamplingOptions tiny_options() {
  SamplingOptions options;
  options.steps = 3;
  options.guidance = 7.5;
  options.width = 64;
  options.height = 64;
  return options;
}

StableDiffusion tiny_pipeline() { return StableDiffusion(load_models(profile_by_name("tiny"), ""), 1); }

TEST(StableDiffusionTest, SameSeedGivesIdenticalImagesAndOtherSeedsDiffer) {
  auto pipeline = tiny_pipeline();
  const auto options = tiny_options();
  torch::manual_seed(1);
  const auto first = pipeline.generate({{"a red fox in the snow", 42}}, options);
  torch::manual_seed(999);  // the global RNG must not matter
  const auto second = pipeline.generate({{"a red fox in the snow", 42}}, options);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].width, 64);
  EXPECT_EQ(first[0].height, 64);
  EXPECT_EQ(first[0].channels, 3);
  EXPECT_TRUE(first[0] == second[0]);
  const auto other = pipeline.generate({{"a red fox in the snow", 43}}, options);
  EXPECT_FALSE(first[0] == other[0]);
}

TEST(StableDiffusionTest, BatchedImagesEqualTheirSingleRuns) {
  auto pipeline = tiny_pipeline();
  const auto options = tiny_options();
  const auto batch = pipeline.generate({{"a cat", 1}, {"a dog on a boat", 2}}, options);
  const auto single = pipeline.generate({{"a dog on a boat", 2}}, options);
  ASSERT_EQ(batch.size(), 2u);
  // Batched matmuls may round differently from single ones: allow one grey level.
  int max_difference = 0;
  for (std::size_t i = 0; i < single[0].pixels.size(); ++i) {
    max_difference = std::max(max_difference, std::abs(int(batch[1].pixels[i]) - int(single[0].pixels[i])));
  }
  EXPECT_LE(max_difference, 1);
}

TEST(StableDiffusionTest, StepsReachTheCallbackWithCfgRows) {
  auto pipeline = tiny_pipeline();
  std::vector<attention::StepInfo> seen;
  ImageRequest portrait{"a knight", 5, attention::RowRole::kPortrait, 0};
  pipeline.generate({portrait, {"a castle", 6}}, tiny_options(),
                    [&](const attention::StepInfo& step) { seen.push_back(step); });
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].step, 0);
  EXPECT_EQ(seen[2].step, 2);
  EXPECT_EQ(seen[0].num_steps, 3);
  EXPECT_GT(seen[0].timestep, seen[1].timestep);
  ASSERT_EQ(seen[0].rows.size(), 4u);
  EXPECT_FALSE(seen[0].rows[0].conditional);
  EXPECT_EQ(seen[0].rows[0].role, attention::RowRole::kPortrait);
  EXPECT_EQ(seen[0].rows[1].image, 1);
  EXPECT_TRUE(seen[0].rows[2].conditional);
  EXPECT_EQ(seen[0].rows[2].subject, 0);
  EXPECT_EQ(seen[0].rows[3].role, attention::RowRole::kScene);
}

// Counts its calls and the rows it saw; otherwise vanilla.
class CountingProcessor : public attention::Processor {
 public:
  torch::Tensor attend(const attention::AttentionCall& call, const attention::AttentionLayer& layer,
                       const torch::Tensor& hidden, const torch::Tensor& context) override {
    ++calls;
    last_step = call.step->step;
    rows = call.step->rows.size();
    return vanilla_.attend(call, layer, hidden, context);
  }
  int calls = 0;
  int last_step = -1;
  std::size_t rows = 0;

 private:
  attention::VanillaProcessor vanilla_;
};

TEST(StableDiffusionTest, ProcessorsSwitchedInTheStepCallbackApplyFromThatStep) {
  auto pipeline = tiny_pipeline();
  const auto counting = std::make_shared<CountingProcessor>();
  const auto layers = static_cast<int>(pipeline.unet()->attention_layers().size());
  const auto switched = pipeline.generate({{"a knight", 5}}, tiny_options(), [&](const attention::StepInfo& step) {
    if (step.step == 1) pipeline.unet()->set_processor(counting);
  });
  EXPECT_EQ(counting->calls, 2 * layers);  // steps 1 and 2 of 3, every attention layer once
  EXPECT_EQ(counting->last_step, 2);
  EXPECT_EQ(counting->rows, 2u);  // the CFG pair
  // The counting processor is vanilla attention: the image is unchanged.
  pipeline.unet()->set_processor(std::make_shared<attention::VanillaProcessor>());
  EXPECT_TRUE(switched[0] == pipeline.generate({{"a knight", 5}}, tiny_options())[0]);
}

TEST(StableDiffusionTest, GuidanceOneRunsOnlyTheConditionalRows) {
  auto pipeline = tiny_pipeline();
  auto options = tiny_options();
  options.guidance = 1.0;
  std::vector<attention::StepInfo> seen;
  const auto unguided = pipeline.generate({{"a knight", 5}, {"a castle", 6}}, options,
                                          [&](const attention::StepInfo& step) { seen.push_back(step); });
  ASSERT_EQ(seen.size(), 3u);
  ASSERT_EQ(seen[0].rows.size(), 2u);
  EXPECT_TRUE(seen[0].rows[0].conditional && seen[0].rows[1].conditional);
  EXPECT_EQ(seen[0].rows[1].image, 1);
  // Guidance changes the picture.
  EXPECT_FALSE(unguided[0] == pipeline.generate({{"a knight", 5}}, tiny_options())[0]);
}

TEST(StableDiffusionTest, EncodeGivesScaledLatentsOfTheRightShape) {
  auto pipeline = tiny_pipeline();
  core::Image image(64, 64, 3);
  for (std::size_t i = 0; i < image.pixels.size(); ++i) image.pixels[i] = static_cast<std::uint8_t>(i * 7);
  const auto latents = pipeline.encode(image);
  EXPECT_EQ(latents.sizes(), (std::vector<std::int64_t>{1, 4, 16, 16}));
  EXPECT_TRUE(torch::equal(latents, pipeline.encode(image)));
  EXPECT_THROW(pipeline.encode(core::Image(64, 64, 1)), core::InputError);
}

TEST(StableDiffusionTest, ImageTensorRoundTrip) {
  core::Image image(4, 2, 3);
  for (std::size_t i = 0; i < image.pixels.size(); ++i) image.pixels[i] = static_cast<std::uint8_t>(i * 10);
  const auto tensor = image_to_tensor(image);
  EXPECT_EQ(tensor.sizes(), (std::vector<std::int64_t>{1, 3, 2, 4}));
  EXPECT_FLOAT_EQ(tensor[0][0][0][0].item<float>(), -1.0f);
  EXPECT_TRUE(tensor_to_images(tensor)[0] == image);
}

TEST(StableDiffusionTest, BadSizesAndStepsAreInputErrors) {
  auto pipeline = tiny_pipeline();
  auto options = tiny_options();
  options.width = 60;
  EXPECT_THROW(pipeline.generate({{"x", 1}}, options), core::InputError);
  options = tiny_options();
  options.steps = 0;
  EXPECT_THROW(pipeline.generate({{"x", 1}}, options), core::InputError);
  EXPECT_THROW(StableDiffusion(load_models(profile_by_name("tiny"), ""), 0), core::InputError);
}

TEST(ProfilesTest, NamesAndErrors) {
  EXPECT_EQ(profile_names(), (std::vector<std::string>{"sd15", "sdxl", "tiny"}));
  // sdxl is described, not runnable: a clear error before anything is built.
  try {
    load_models(profile_by_name("sdxl"), "/some/sdxl");
    FAIL() << "expected an InputError";
  } catch (const core::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("not implemented"), std::string::npos) << e.what();
  }
  EXPECT_THROW(build_models(profile_by_name("sdxl")), core::InputError);
  try {
    profile_by_name("sd1.5");
    FAIL() << "expected an InputError";
  } catch (const core::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("sd15"), std::string::npos) << e.what();
  }
  EXPECT_THROW(load_models(profile_by_name("tiny"), "/nonexistent/weights"), core::InputError);
  EXPECT_THROW(load_models(profile_by_name("sd15"), ""), core::InputError);
  EXPECT_THROW(load_models(profile_by_name("sd15"), "/nonexistent/folder"), core::InputError);
}

TEST(ProfilesTest, Sd15NetworksHaveThePublishedParameterCounts) {
  // Built once (about 1.07 billion float32 parameters, 4.3 GB); no weights are read.
  const auto models = build_models(profile_by_name("sd15"));
  EXPECT_EQ(parameter_count(*models.unet), 859'520'964);
  EXPECT_EQ(parameter_count(*models.text_encoder), 123'060'480);
  EXPECT_EQ(parameter_count(*models.vae), 83'653'863);
  EXPECT_EQ(models.profile.default_size, 512);
  EXPECT_EQ(models.profile.unet.cross_attention_dim, models.profile.text.hidden_size);
}

TEST(ProfilesTest, TinyWeightsAreSeededAndReproducible) {
  const auto a = load_models(profile_by_name("tiny"), "");
  const auto b = load_models(profile_by_name("tiny"), "");
  const auto pa = a.unet->named_parameters();
  const auto pb = b.unet->named_parameters();
  EXPECT_TRUE(torch::equal(pa["conv_in.weight"], pb["conv_in.weight"]));
  EXPECT_EQ(a.unet_source, "seeded random (tiny)");
}

}  // namespace
}  // namespace dsbench::diffusion

namespace dsbench::diffusion {
namespace {

namespace st = core::safetensors;

// transformers < 4.31 saved the text encoder's position_ids buffer; real SD1.5 files carry it.
st::OwnedTensor position_ids() {
  st::OwnedTensor ids{st::DType::kI64, {1, 77}, std::vector<std::uint8_t>(77 * 8)};
  for (std::int64_t i = 0; i < 77; ++i) std::memcpy(ids.data.data() + i * 8, &i, 8);
  return ids;
}

// Writes a module's parameters (and `extra` tensors) as an f32 (or f16) safetensors file.
void save(const torch::nn::Module& module, const std::filesystem::path& path, st::DType dtype = st::DType::kF32,
          std::map<std::string, st::OwnedTensor> extra = {}) {
  std::map<std::string, st::OwnedTensor> tensors = std::move(extra);
  for (const auto& item : module.named_parameters()) {
    auto values = item.value().detach().contiguous();
    if (dtype == st::DType::kF16) values = values.to(torch::kFloat16);
    const auto* bytes = static_cast<const std::uint8_t*>(values.data_ptr());
    tensors[item.key()] = {dtype, item.value().sizes().vec(),
                           std::vector<std::uint8_t>(bytes, bytes + values.numel() * values.element_size())};
  }
  std::filesystem::create_directories(path.parent_path());
  st::write(path, tensors);
}

TEST(ProfilesTest, DiffusersFolderLoadsEveryNetwork) {
  Profile profile = profile_by_name("tiny");  // tiny shapes, but file-backed
  profile.name = "tiny-files";
  profile.seeded_random = false;
  const auto source = load_models(profile_by_name("tiny"), "");
  const auto root = std::filesystem::path(DSBENCH_BINARY_DIR) / "tests/diffusion/tiny_diffusers";
  std::filesystem::remove_all(root);
  save(*source.unet, root / "unet/diffusion_pytorch_model.safetensors");
  save(*source.vae, root / "vae/diffusion_pytorch_model.fp16.safetensors", st::DType::kF16);
  save(*source.text_encoder, root / "text_encoder/model.safetensors", st::DType::kF32,
       {{"text_model.embeddings.position_ids", position_ids()}});
  const auto loaded = load_models(profile, root);
  EXPECT_EQ(loaded.unet_source, (root / "unet/diffusion_pytorch_model.safetensors").string());
  EXPECT_EQ(loaded.vae_source, (root / "vae/diffusion_pytorch_model.fp16.safetensors").string());
  const auto expected = source.unet->named_parameters();
  for (const auto& item : loaded.unet->named_parameters()) {
    ASSERT_TRUE(torch::equal(item.value(), expected[item.key()])) << item.key();
  }
  const auto vae_expected = source.vae->named_parameters();
  for (const auto& item : loaded.vae->named_parameters()) {
    ASSERT_TRUE(torch::allclose(item.value(), vae_expected[item.key()], 1e-3, 1e-3)) << item.key();
  }
  std::filesystem::remove(root / "text_encoder/model.safetensors");
  try {
    load_models(profile, root);
    FAIL() << "expected an InputError";
  } catch (const core::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("text_encoder"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace dsbench::diffusion

namespace dsbench::diffusion {
namespace {

TEST(StableDiffusionTest, InversionIsDeterministicAndKeepsTheShape) {
  auto pipeline = tiny_pipeline();
  core::Image image(64, 64, 3);
  for (std::size_t i = 0; i < image.pixels.size(); ++i) image.pixels[i] = static_cast<std::uint8_t>(i % 251);
  const auto latents = pipeline.encode(image);
  const auto cond = pipeline.encode_prompts({"a test pattern"});
  const auto noise = pipeline.invert(latents, cond, 3);
  EXPECT_EQ(noise.sizes(), latents.sizes());
  EXPECT_FALSE(torch::allclose(noise, latents));
  std::vector<std::int64_t> timesteps;
  EXPECT_TRUE(torch::equal(noise, pipeline.invert(latents, cond, 3, {}, [&](const attention::StepInfo& step) {
    timesteps.push_back(step.timestep);
  })));
  EXPECT_EQ(timesteps, (std::vector<std::int64_t>{1, 334, 667}));  // ascending DDIM timesteps for 3 steps
}

}  // namespace
}  // namespace dsbench::diffusion

namespace dsbench::diffusion {
namespace {

namespace st = core::safetensors;

const std::filesystem::path kUNetFixtures = std::filesystem::path(DSBENCH_SOURCE_DIR) / "tests/fixtures/unet";

// UNET_CONV and VAE of scripts/fixtures/make_unet_fixtures.py, with a 12-wide text encoder.
Profile single_file_profile() {
  Profile profile;
  profile.name = "single-file";
  profile.unet.block_out_channels = {8, 16};
  profile.unet.layers_per_block = 1;
  profile.unet.down_block_has_attention = {true, true};
  profile.unet.transformer_layers_per_block = {1, 2};
  profile.unet.attention_heads = {2, 2};
  profile.unet.cross_attention_dim = 12;
  profile.unet.norm_num_groups = 4;
  profile.vae.block_out_channels = {8, 16};
  profile.vae.layers_per_block = 1;
  profile.vae.norm_num_groups = 4;
  profile.text = ClipTextConfig::tiny();
  profile.text.vocab_size = 100;
  profile.text.hidden_size = 12;
  profile.text.heads = 2;
  profile.text.layers = 1;
  return profile;
}

TEST(ProfilesTest, SingleFileCheckpointLoadsEveryNetwork) {
  const auto profile = single_file_profile();
  // The UNet and VAE under their original (CompVis) names, plus a text encoder under
  // cond_stage_model.transformer.*, in one file.
  std::map<std::string, st::OwnedTensor> tensors;
  const auto original = st::File::open(kUNetFixtures / "original_checkpoint.safetensors");
  for (const auto& key : original.names()) {
    const auto& view = original.tensor(key);
    tensors[key] = {view.dtype, view.shape, std::vector<std::uint8_t>(view.data, view.data + view.bytes)};
  }
  ClipTextModel text(profile.text);
  init_seeded(*text, 5);
  const auto text_file = std::filesystem::path(DSBENCH_BINARY_DIR) / "tests/diffusion/text_only.safetensors";
  std::filesystem::create_directories(text_file.parent_path());
  save_weights(*text, text_file, [](const std::string& name) { return "cond_stage_model.transformer." + name; });
  tensors["cond_stage_model.transformer.text_model.embeddings.position_ids"] = position_ids();
  const auto text_tensors = st::File::open(text_file);
  for (const auto& key : text_tensors.names()) {
    const auto& view = text_tensors.tensor(key);
    tensors[key] = {view.dtype, view.shape, std::vector<std::uint8_t>(view.data, view.data + view.bytes)};
  }
  const auto checkpoint = std::filesystem::path(DSBENCH_BINARY_DIR) / "tests/diffusion/single_file.safetensors";
  st::write(checkpoint, tensors);

  const auto loaded = load_models(profile, checkpoint);
  EXPECT_NE(loaded.unet_source.find("single file"), std::string::npos) << loaded.unet_source;
  // The same numbers as the diffusers-named fixture files.
  auto unet = build_models(profile).unet;
  load_unet_weights(*unet, kUNetFixtures / "unet_conv_weights.safetensors", WeightLayout::kDiffusers);
  const auto unet_loaded = loaded.unet->named_parameters();
  for (const auto& item : unet->named_parameters()) {
    ASSERT_TRUE(torch::equal(item.value(), unet_loaded[item.key()])) << item.key();
  }
  auto vae = build_models(profile).vae;
  load_vae_weights(*vae, kUNetFixtures / "vae_weights.safetensors", WeightLayout::kDiffusers);
  const auto vae_loaded = loaded.vae->named_parameters();
  for (const auto& item : vae->named_parameters()) {
    ASSERT_TRUE(torch::equal(item.value(), vae_loaded[item.key()])) << item.key();
  }
  const auto text_loaded = loaded.text_encoder->named_parameters();
  for (const auto& item : text->named_parameters()) {
    ASSERT_TRUE(torch::equal(item.value(), text_loaded[item.key()])) << item.key();
  }

  // Without the text encoder the file is rejected, naming what is missing.
  for (auto it = tensors.begin(); it != tensors.end();) {
    it = it->first.rfind("cond_stage_model.", 0) == 0 ? tensors.erase(it) : std::next(it);
  }
  st::write(checkpoint, tensors);
  try {
    load_models(profile, checkpoint);
    FAIL() << "a checkpoint without text encoder weights was accepted";
  } catch (const core::InputError& error) {
    EXPECT_NE(std::string(error.what()).find("single_file.safetensors"), std::string::npos) << error.what();
  }
}

}  // namespace
}  // namespace dsbench::diffusion
