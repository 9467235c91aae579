// Loading the parity fixtures' weights through the real loaders: diffusers names, the
// original single-file names, f16 files, legacy VAE names, and the error reports.
#include "pipeline/diffusion/network_loading.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "core/errors.h"
#include "core/safetensors.h"

namespace dsbench::diffusion {
namespace {

namespace fs = std::filesystem;
namespace st = core::safetensors;

const fs::path kFixtures = fs::path(DSBENCH_SOURCE_DIR) / "tests/fixtures/unet";

torch::Tensor read(const st::File& file, const std::string& name) {
  const auto& view = file.tensor(name);
  return torch::from_blob(const_cast<std::uint8_t*>(view.data), view.shape, torch::kFloat32).clone();
}

UNetConfig conv_config() {  // UNET_CONV in scripts/fixtures/make_unet_fixtures.py
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

VaeConfig vae_config() {
  VaeConfig config;
  config.block_out_channels = {8, 16};
  config.layers_per_block = 1;
  config.norm_num_groups = 4;
  return config;
}

double unet_error(UNet& unet) {
  const auto io = st::File::open(kFixtures / "unet_conv_io.safetensors");
  torch::NoGradGuard no_grad;
  const auto out = unet(read(io, "sample"), read(io, "timesteps").to(torch::kInt64), read(io, "context"),
                        attention::StepInfo{});
  return (out - read(io, "output")).abs().max().item<double>();
}

double vae_error(AutoencoderKL& vae) {
  const auto io = st::File::open(kFixtures / "vae_io.safetensors");
  torch::NoGradGuard no_grad;
  return (vae->decode(read(io, "latents")) - read(io, "decoded")).abs().max().item<double>();
}

// A copy of a fixture file with names and/or dtype changed.
fs::path rewrite(const fs::path& source, const std::string& out_name,
                 const std::function<std::string(const std::string&)>& rename, st::DType dtype = st::DType::kF32,
                 const std::string& drop = "") {
  const auto file = st::File::open(source);
  std::map<std::string, st::OwnedTensor> tensors;
  for (const auto& name : file.names()) {
    if (name == drop) continue;
    const auto& view = file.tensor(name);
    st::OwnedTensor tensor{dtype, view.shape, {}};
    const auto* values = reinterpret_cast<const float*>(view.data);
    for (std::int64_t i = 0; i < view.numel(); ++i) {
      if (dtype == st::DType::kF32) {
        const auto* bytes = reinterpret_cast<const std::uint8_t*>(values + i);
        tensor.data.insert(tensor.data.end(), bytes, bytes + 4);
      } else {
        const auto half = st::float_to_half(values[i]);
        tensor.data.push_back(static_cast<std::uint8_t>(half & 0xff));
        tensor.data.push_back(static_cast<std::uint8_t>(half >> 8));
      }
    }
    tensors[rename(name)] = std::move(tensor);
  }
  const auto path = fs::path(DSBENCH_BINARY_DIR) / "tests/diffusion" / out_name;
  fs::create_directories(path.parent_path());
  st::write(path, tensors);
  return path;
}

std::string error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const core::InputError& e) {
    return e.what();
  }
  return "";
}

TEST(NetworkLoadingTest, DiffusersNamesLoadTheReferenceWeights) {
  UNet unet(conv_config());
  load_unet_weights(*unet, kFixtures / "unet_conv_weights.safetensors", WeightLayout::kDiffusers);
  EXPECT_LT(unet_error(unet), 1e-4);
  AutoencoderKL vae(vae_config());
  load_vae_weights(*vae, kFixtures / "vae_weights.safetensors", WeightLayout::kDiffusers);
  EXPECT_LT(vae_error(vae), 1e-4);
}

TEST(NetworkLoadingTest, OriginalSingleFileLoadsUNetAndVae) {
  const auto checkpoint = kFixtures / "original_checkpoint.safetensors";
  UNet unet(conv_config());
  load_unet_weights(*unet, checkpoint, WeightLayout::kOriginal);
  EXPECT_LT(unet_error(unet), 1e-4);
  AutoencoderKL vae(vae_config());
  load_vae_weights(*vae, checkpoint, WeightLayout::kOriginal);
  EXPECT_LT(vae_error(vae), 1e-4);
}

TEST(NetworkLoadingTest, HalfPrecisionFilesAreConverted) {
  const auto path = rewrite(kFixtures / "unet_conv_weights.safetensors", "unet_f16.safetensors",
                            [](const std::string& name) { return name; }, st::DType::kF16);
  UNet unet(conv_config());
  load_unet_weights(*unet, path, WeightLayout::kDiffusers);
  const auto reference = st::File::open(kFixtures / "unet_conv_weights.safetensors");
  const auto expected = read(reference, "conv_in.weight").to(torch::kFloat16).to(torch::kFloat32);
  EXPECT_TRUE(torch::equal(unet->named_parameters()["conv_in.weight"], expected));
  EXPECT_LT(unet_error(unet), 0.1);  // f16 rounding of the weights, not a loading error
}

TEST(NetworkLoadingTest, LegacyVaeAttentionNamesAreAccepted) {
  const auto path = rewrite(kFixtures / "vae_weights.safetensors", "vae_legacy.safetensors", [](std::string name) {
    for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
             {".to_q.", ".query."}, {".to_k.", ".key."}, {".to_v.", ".value."}, {".to_out.0.", ".proj_attn."}}) {
      const auto at = name.find(from);
      if (at != std::string::npos && name.find("mid_block.attentions") != std::string::npos) {
        name = name.substr(0, at) + to + name.substr(at + from.size());
      }
    }
    return name;
  });
  EXPECT_TRUE(st::File::open(path).contains("decoder.mid_block.attentions.0.query.weight"));
  AutoencoderKL vae(vae_config());
  load_vae_weights(*vae, path, WeightLayout::kDiffusers);
  EXPECT_LT(vae_error(vae), 1e-4);
}

TEST(NetworkLoadingTest, MissingUnexpectedAndMisshapedTensorsAreNamed) {
  const auto identity = [](const std::string& name) { return name; };
  const auto missing = rewrite(kFixtures / "unet_conv_weights.safetensors", "unet_missing.safetensors", identity,
                               st::DType::kF32, "mid_block.resnets.1.conv2.bias");
  UNet unet(conv_config());
  auto message = error_of([&] { load_unet_weights(*unet, missing, WeightLayout::kDiffusers); });
  EXPECT_NE(message.find("1 missing: mid_block.resnets.1.conv2.bias"), std::string::npos) << message;
  EXPECT_NE(message.find("unet_missing.safetensors"), std::string::npos) << message;

  const auto renamed = rewrite(kFixtures / "unet_conv_weights.safetensors", "unet_renamed.safetensors",
                               [](const std::string& name) {
                                 return name == "conv_out.bias" ? std::string("conv_out.beta") : name;
                               });
  message = error_of([&] { load_unet_weights(*unet, renamed, WeightLayout::kDiffusers); });
  EXPECT_NE(message.find("unexpected: conv_out.beta"), std::string::npos) << message;
  EXPECT_NE(message.find("missing: conv_out.bias"), std::string::npos) << message;

  // The reference weights in a wider UNet: every conv_in/… shape differs.
  UNetConfig wider = conv_config();
  wider.cross_attention_dim = 16;
  UNet wide(wider);
  message = error_of([&] { load_unet_weights(*wide, kFixtures / "unet_conv_weights.safetensors", WeightLayout::kDiffusers); });
  EXPECT_NE(message.find("mis-shaped: down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight [8,12] (model [8,16])"),
            std::string::npos)
      << message;

  // An original checkpoint read as diffusers: nothing matches.
  message = error_of([&] { load_unet_weights(*unet, kFixtures / "original_checkpoint.safetensors", WeightLayout::kDiffusers); });
  EXPECT_NE(message.find("unexpected"), std::string::npos) << message;
  EXPECT_THROW(load_unet_weights(*unet, kFixtures / "no_such_file.safetensors", WeightLayout::kDiffusers),
               core::InputError);
}

}  // namespace
}  // namespace dsbench::diffusion
