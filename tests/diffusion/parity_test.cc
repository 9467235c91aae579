// The C++ UNet and VAE against an independent torch.nn reference
// (scripts/fixtures/make_unet_fixtures.py): same weights by diffusers name, same inputs,
// outputs within 1e-4.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "core/safetensors.h"
#include "pipeline/diffusion/unet.h"
#include "pipeline/diffusion/vae.h"

namespace dsbench::diffusion {
namespace {

const std::filesystem::path kFixtures = std::filesystem::path(DSBENCH_SOURCE_DIR) / "tests/fixtures/unet";

torch::Tensor read(const core::safetensors::File& file, const std::string& name) {
  const auto& view = file.tensor(name);
  EXPECT_EQ(view.dtype, core::safetensors::DType::kF32) << name;
  return torch::from_blob(const_cast<std::uint8_t*>(view.data), view.shape, torch::kFloat32).clone();
}

// Every parameter must be in the file with its shape and every tensor of the file must be
// a parameter: the names are the contract with diffusers.
void load_exactly(torch::nn::Module& module, const std::filesystem::path& path) {
  const auto file = core::safetensors::File::open(path);
  const auto names = file.names();
  std::set<std::string> unused(names.begin(), names.end());
  torch::NoGradGuard no_grad;
  for (auto& item : module.named_parameters()) {
    ASSERT_TRUE(file.contains(item.key())) << "missing " << item.key();
    const auto tensor = read(file, item.key());
    ASSERT_EQ(tensor.sizes(), item.value().sizes()) << item.key();
    item.value().copy_(tensor);
    unused.erase(item.key());
  }
  EXPECT_TRUE(unused.empty()) << "unexpected " << *unused.begin();
}

double max_difference(const torch::Tensor& a, const torch::Tensor& b) {
  EXPECT_EQ(a.sizes(), b.sizes());
  return (a - b).abs().max().item<double>();
}

UNetConfig conv_config() {  // UNET_CONV in the script
  UNetConfig config;
  config.block_out_channels = {8, 16};
  config.layers_per_block = 1;
  config.down_block_has_attention = {true, true};
  config.transformer_layers_per_block = {1, 2};
  config.attention_heads = {2, 2};
  config.cross_attention_dim = 12;
  config.norm_num_groups = 4;
  return config;
}

UNetConfig linear_config() {  // UNET_LINEAR in the script
  UNetConfig config = conv_config();
  config.down_block_has_attention = {false, true};
  config.attention_heads = {2, 4};
  config.cross_attention_dim = 20;
  config.use_linear_projection = true;
  config.addition_embed_type = "text_time";
  config.addition_time_embed_dim = 8;
  config.projection_class_embeddings_input_dim = 12 + 6 * 8;
  return config;
}

TEST(ParityTest, ConvProjectionUNetMatchesReference) {
  UNet unet(conv_config());
  load_exactly(*unet, kFixtures / "unet_conv_weights.safetensors");
  const auto io = core::safetensors::File::open(kFixtures / "unet_conv_io.safetensors");
  torch::NoGradGuard no_grad;
  const auto out = unet(read(io, "sample"), read(io, "timesteps").to(torch::kInt64), read(io, "context"),
                        attention::StepInfo{});
  EXPECT_LT(max_difference(out, read(io, "output")), 1e-4);
}

TEST(ParityTest, LinearProjectionTextTimeUNetMatchesReference) {
  UNet unet(linear_config());
  load_exactly(*unet, kFixtures / "unet_linear_weights.safetensors");
  const auto io = core::safetensors::File::open(kFixtures / "unet_linear_io.safetensors");
  torch::NoGradGuard no_grad;
  const AddedConditions added{read(io, "text_embeds"), read(io, "time_ids")};
  const auto out = unet(read(io, "sample"), read(io, "timesteps").to(torch::kInt64), read(io, "context"),
                        attention::StepInfo{}, added);
  EXPECT_LT(max_difference(out, read(io, "output")), 1e-4);
}

TEST(ParityTest, VaeEncodeAndDecodeMatchReference) {
  VaeConfig config;
  config.block_out_channels = {8, 16};
  config.layers_per_block = 1;
  config.norm_num_groups = 4;
  AutoencoderKL vae(config);
  load_exactly(*vae, kFixtures / "vae_weights.safetensors");
  const auto io = core::safetensors::File::open(kFixtures / "vae_io.safetensors");
  torch::NoGradGuard no_grad;
  const auto encoded = vae->encode(read(io, "images"));
  EXPECT_LT(max_difference(encoded.mean, read(io, "mean")), 1e-4);
  EXPECT_LT(max_difference(encoded.logvar, read(io, "logvar")), 1e-4);
  EXPECT_LT(max_difference(vae->decode(read(io, "latents")), read(io, "decoded")), 1e-4);
}

TEST(ParityTest, PerturbedWeightsNoLongerMatch) {
  // Guards against a vacuous comparison: one changed weight must show in the output.
  UNet unet(conv_config());
  load_exactly(*unet, kFixtures / "unet_conv_weights.safetensors");
  torch::NoGradGuard no_grad;
  unet->named_parameters()["up_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.weight"].add_(0.1);
  const auto io = core::safetensors::File::open(kFixtures / "unet_conv_io.safetensors");
  const auto out = unet(read(io, "sample"), read(io, "timesteps").to(torch::kInt64), read(io, "context"),
                        attention::StepInfo{});
  EXPECT_GT(max_difference(out, read(io, "output")), 1e-3);
}

}  // namespace
}  // namespace dsbench::diffusion
