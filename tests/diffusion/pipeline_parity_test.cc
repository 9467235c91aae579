// The sampling pipeline end to end against an independent torch.nn reference
// (scripts/fixtures/make_pipeline_fixtures.py): seeded noise, CLIP text encoding, a
// 4-step DDIM loop with classifier-free guidance, VAE decode, and DDIM inversion, all
// with the same weights loaded from a diffusers folder.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/safetensors.h"
#include "pipeline/diffusion/stable_diffusion.h"
#include "pipeline/diffusion/weights.h"

namespace dsbench::diffusion {
namespace {

const std::filesystem::path kFolder =
    std::filesystem::path(DSBENCH_SOURCE_DIR) / "tests/fixtures/unet/tiny_pipeline";

// TEXT, UNET and VAE of the script.
Profile reference_profile() {
  Profile profile;
  profile.name = "pipeline-parity";
  profile.text = ClipTextConfig::tiny();
  profile.text.vocab_size = 1000;
  profile.text.hidden_size = 16;
  profile.text.layers = 1;
  profile.text.heads = 2;
  profile.text.intermediate_size = 32;
  profile.unet.block_out_channels = {8, 16};
  profile.unet.layers_per_block = 1;
  profile.unet.down_block_has_attention = {true, true};
  profile.unet.transformer_layers_per_block = {1, 1};
  profile.unet.attention_heads = {2, 2};
  profile.unet.cross_attention_dim = 16;
  profile.unet.norm_num_groups = 4;
  profile.vae.block_out_channels = {8, 16};
  profile.vae.layers_per_block = 1;
  profile.vae.norm_num_groups = 4;
  profile.default_size = 16;
  return profile;
}

class PipelineParityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    io_ = std::make_unique<core::safetensors::File>(core::safetensors::File::open(kFolder / "io.safetensors"));
    pipeline_ = std::make_unique<StableDiffusion>(load_models(reference_profile(), kFolder), 1);
    const auto settings = io("settings").to(torch::kFloat64);
    options_.width = options_.height = static_cast<int>(settings[0].item<double>());
    options_.steps = static_cast<int>(settings[1].item<double>());
    options_.guidance = settings[2].item<double>();
    seeds_ = {static_cast<std::uint64_t>(settings[3].item<double>()),
              static_cast<std::uint64_t>(settings[4].item<double>())};
  }
  torch::Tensor io(const std::string& name) const { return to_tensor(io_->tensor(name)); }
  torch::Tensor encode_ids(const std::string& name) {
    torch::NoGradGuard no_grad;
    auto encoder = pipeline_->models().text_encoder;  // shares the module; non-const access
    return encoder->forward(io(name).round().to(torch::kInt64));
  }
  static void expect_close(const torch::Tensor& got, const torch::Tensor& expected, double tolerance,
                           const std::string& what) {
    ASSERT_EQ(got.sizes(), expected.sizes()) << what;
    EXPECT_LT((got - expected).abs().max().item<double>(), tolerance) << what;
    EXPECT_GT(expected.abs().mean().item<double>(), 0.1) << what << ": the reference is not trivially small";
  }

  std::unique_ptr<core::safetensors::File> io_;
  std::unique_ptr<StableDiffusion> pipeline_;
  SamplingOptions options_;
  std::vector<std::uint64_t> seeds_;
};

TEST_F(PipelineParityTest, InitialNoiseEqualsTorchRandnWithTheSeed) {
  const auto noise = torch::cat({pipeline_->initial_noise(seeds_[0], options_.width, options_.height),
                                 pipeline_->initial_noise(seeds_[1], options_.width, options_.height)});
  EXPECT_TRUE(torch::equal(noise, io("noise")));
}

TEST_F(PipelineParityTest, GuidedDdimLoopAndDecodeMatchTheReference) {
  torch::NoGradGuard no_grad;
  const auto cond = encode_ids("ids_cond");
  const auto uncond = encode_ids("ids_uncond").expand_as(cond).contiguous();
  const std::vector<ImageRequest> requests{{"", seeds_[0]}, {"", seeds_[1]}};
  const auto latents = pipeline_->denoise(io("noise"), cond, uncond, options_, cfg_rows(requests));
  // Four guided steps compound float32 rounding, and that depends on the BLAS kernels the
  // CPU gets (1.4e-4 seen on an EPYC with OpenBLAS's Haswell kernels, latents of order 1).
  expect_close(latents, io("latents"), 5e-4, "latents after " + std::to_string(options_.steps) + " steps");
  auto vae = pipeline_->models().vae;
  const auto images = vae->decode(latents / pipeline_->models().profile.vae.scaling_factor);
  expect_close(images, io("images"), 1e-4, "decoded images");
  // decode() is the same computation rounded to 8 bits.
  const auto decoded = pipeline_->decode(io("latents"));
  ASSERT_EQ(decoded.size(), 2u);
  EXPECT_TRUE(decoded[1] == tensor_to_images(io("images"))[1]);
}

TEST_F(PipelineParityTest, InversionMatchesTheReference) {
  torch::NoGradGuard no_grad;
  const auto cond = encode_ids("ids_cond").slice(0, 0, 1);
  expect_close(pipeline_->invert(io("clean"), cond, options_.steps), io("inverted"), 1e-4, "inverted latents");
}

TEST_F(PipelineParityTest, WrongGuidanceOrStepsNoLongerMatch) {
  // The comparison can fail: one changed setting moves the latents far beyond tolerance.
  torch::NoGradGuard no_grad;
  const auto cond = encode_ids("ids_cond");
  const auto uncond = encode_ids("ids_uncond").expand_as(cond).contiguous();
  auto options = options_;
  options.guidance = 5.0;
  const std::vector<ImageRequest> requests{{"", seeds_[0]}, {"", seeds_[1]}};
  const auto latents = pipeline_->denoise(io("noise"), cond, uncond, options, cfg_rows(requests));
  EXPECT_GT((latents - io("latents")).abs().max().item<double>(), 1e-2);
}

}  // namespace
}  // namespace dsbench::diffusion
