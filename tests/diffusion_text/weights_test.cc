#include "pipeline/diffusion/weights.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/errors.h"
#include "core/safetensors.h"
#include "pipeline/diffusion/clip_text_model.h"

namespace dsbench::diffusion {
namespace {

namespace fs = std::filesystem;
namespace st = core::safetensors;
using ::testing::HasSubstr;

fs::path scratch(const std::string& name) {
  const auto dir = fs::path(DSBENCH_BINARY_DIR) / "weights_test";
  fs::create_directories(dir);
  return dir / name;
}

st::OwnedTensor f32(std::vector<int64_t> shape, float start = 0.0f) {
  st::OwnedTensor tensor;
  tensor.shape = std::move(shape);
  int64_t count = 1;
  for (const auto d : tensor.shape) count *= d;
  tensor.data.resize(static_cast<std::size_t>(count) * 4);
  for (int64_t i = 0; i < count; ++i) {
    const float value = start + static_cast<float>(i);
    std::memcpy(tensor.data.data() + i * 4, &value, 4);
  }
  return tensor;
}

// A small module with a nested name, a parameter and a buffer.
struct ToyImpl : torch::nn::Module {
  ToyImpl() {
    linear = register_module("block", torch::nn::Linear(3, 2));
    scale = register_buffer("scale", torch::zeros({2}));
  }
  torch::nn::Linear linear{nullptr};
  torch::Tensor scale;
};
TORCH_MODULE(Toy);

TEST(ToTensor, ConvertsHalfBfloatAndDoubleToFloat) {
  std::map<std::string, st::OwnedTensor> tensors;
  st::OwnedTensor half{st::DType::kF16, {2}, {}};
  for (const float v : {1.5f, -2.0f}) {
    const auto bits = st::float_to_half(v);
    half.data.push_back(bits & 0xFF), half.data.push_back(bits >> 8);
  }
  st::OwnedTensor bf16{st::DType::kBF16, {1}, {}};
  const auto bits = st::float_to_bf16(3.25f);
  bf16.data = {static_cast<uint8_t>(bits & 0xFF), static_cast<uint8_t>(bits >> 8)};
  st::OwnedTensor f64{st::DType::kF64, {1}, std::vector<uint8_t>(8)};
  const double d = 0.125;
  std::memcpy(f64.data.data(), &d, 8);
  st::OwnedTensor i64{st::DType::kI64, {1}, std::vector<uint8_t>(8)};
  const int64_t n = 49407;
  std::memcpy(i64.data.data(), &n, 8);
  tensors = {{"half", half}, {"bf16", bf16}, {"f64", f64}, {"i64", i64}};
  const auto path = scratch("dtypes.safetensors");
  st::write(path, tensors);
  const auto file = st::File::open(path);
  const auto h = to_tensor(file.tensor("half"));
  EXPECT_EQ(h.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(torch::equal(h, torch::tensor({1.5f, -2.0f})));
  EXPECT_EQ(to_tensor(file.tensor("bf16")).item<float>(), 3.25f);
  EXPECT_EQ(to_tensor(file.tensor("f64")).item<float>(), 0.125f);
  EXPECT_EQ(to_tensor(file.tensor("half"), true).scalar_type(), torch::kFloat16);
  const auto ids = to_tensor(file.tensor("i64"));
  EXPECT_EQ(ids.scalar_type(), torch::kInt64);
  EXPECT_EQ(ids.item<int64_t>(), 49407);
}

TEST(LoadWeights, LoadsParametersAndBuffersByName) {
  const auto path = scratch("toy.safetensors");
  st::write(path, {{"block.weight", f32({2, 3})}, {"block.bias", f32({2}, 10)}, {"scale", f32({2}, 20)}});
  Toy toy;
  const auto report = load_weights(*toy, {path});
  EXPECT_TRUE(report.ok()) << report.summary();
  EXPECT_EQ(report.loaded.size(), 3u);
  EXPECT_TRUE(torch::equal(toy->linear->weight, torch::arange(6, torch::kFloat32).view({2, 3})));
  EXPECT_TRUE(torch::equal(toy->linear->bias, torch::tensor({10.0f, 11.0f})));
  EXPECT_TRUE(torch::equal(toy->scale, torch::tensor({20.0f, 21.0f})));
}

TEST(LoadWeights, KeyMapRenamesAndIgnores) {
  const auto path = scratch("mapped.safetensors");
  st::write(path, {{"net.block.weight", f32({2, 3})}, {"net.block.bias", f32({2})}, {"net.scale", f32({2})},
                   {"other.thing", f32({7})}});
  Toy toy;
  const KeyMap map = [](const std::string& key) { return key.rfind("net.", 0) == 0 ? key.substr(4) : std::string(); };
  EXPECT_TRUE(load_weights(*toy, {path}, map).ok());
}

TEST(LoadWeights, SpreadOverSeveralFiles) {
  const auto a = scratch("part_a.safetensors"), b = scratch("part_b.safetensors");
  st::write(a, {{"block.weight", f32({2, 3})}});
  st::write(b, {{"block.bias", f32({2})}, {"scale", f32({2})}});
  Toy toy;
  EXPECT_TRUE(load_weights(*toy, {a, b}).ok());
  st::write(b, {{"block.bias", f32({2})}, {"scale", f32({2})}, {"block.weight", f32({2, 3})}});
  try {
    load_weights(*toy, {a, b});
    FAIL() << "a tensor given twice was accepted";
  } catch (const core::InputError& error) {
    EXPECT_THAT(error.what(), HasSubstr("block.weight"));
    EXPECT_THAT(error.what(), HasSubstr("part_a.safetensors"));
  }
}

TEST(LoadWeights, StrictReportsEveryProblemByNameAndChangesNothing) {
  const auto path = scratch("bad.safetensors");
  st::write(path, {{"block.weight", f32({3, 2})}, {"scale", f32({2}, 5)}, {"extra.weight", f32({1})}});
  Toy toy;
  torch::NoGradGuard no_grad;
  toy->scale.fill_(-1);
  try {
    load_weights(*toy, {path});
    FAIL() << "bad weights were accepted";
  } catch (const core::InputError& error) {
    const std::string message = error.what();
    EXPECT_THAT(message, HasSubstr("bad.safetensors"));
    EXPECT_THAT(message, HasSubstr("1 missing: block.bias"));
    EXPECT_THAT(message, HasSubstr("1 unexpected: extra.weight"));
    EXPECT_THAT(message, HasSubstr("block.weight: file [3,2] vs model [2,3]"));
  }
  EXPECT_TRUE(torch::equal(toy->scale, torch::full({2}, -1.0f)));

  const auto report = load_weights(*toy, {path}, {}, /*strict=*/false);
  EXPECT_FALSE(report.ok());
  EXPECT_EQ(report.missing, std::vector<std::string>{"block.bias"});
  EXPECT_EQ(report.unexpected, std::vector<std::string>{"extra.weight"});
  ASSERT_EQ(report.mismatched.size(), 1u);
  EXPECT_EQ(report.loaded, std::vector<std::string>{"scale"});
  EXPECT_TRUE(torch::equal(toy->scale, torch::tensor({5.0f, 6.0f})));
}

TEST(LoadWeights, LongListsAreTruncatedInTheSummary) {
  LoadReport report;
  for (int i = 0; i < 25; ++i) report.missing.push_back("p" + std::to_string(i));
  const auto summary = report.summary();
  EXPECT_THAT(summary, HasSubstr("25 missing: p0, p1"));
  EXPECT_THAT(summary, HasSubstr("(15 more)"));
  EXPECT_THAT(summary, ::testing::Not(HasSubstr("p24")));
}

TEST(LoadWeights, CorruptFilesAreInputErrors) {
  const auto path = scratch("truncated.safetensors");
  st::write(path, {{"block.weight", f32({2, 3})}});
  fs::resize_file(path, fs::file_size(path) - 4);
  Toy toy;
  const auto message_of = [&](const fs::path& file) -> std::string {
    try {
      load_weights(*toy, {file});
    } catch (const core::InputError& error) {
      return error.what();
    }
    return "no error";
  };
  const auto truncated = message_of(path);
  EXPECT_THAT(truncated, HasSubstr("truncated.safetensors"));
  EXPECT_THAT(truncated, HasSubstr("block.weight"));  // the tensor running past the end
  const auto garbage = scratch("garbage.safetensors");
  {
    std::ofstream out(garbage, std::ios::binary);
    const std::uint64_t header_length = 12;
    out.write(reinterpret_cast<const char*>(&header_length), 8);
    out << "{not json!!}";
  }
  EXPECT_THAT(message_of(garbage), HasSubstr("header is not valid JSON"));
  const auto tiny = scratch("tiny.safetensors");
  { std::ofstream(tiny, std::ios::binary) << "abc"; }
  EXPECT_THAT(message_of(tiny), HasSubstr("shorter than the 8-byte header length"));
  EXPECT_THAT(message_of(scratch("absent.safetensors")), HasSubstr("cannot open"));
  EXPECT_THROW(load_weights(*toy, {}), core::InputError);
}

TEST(SaveWeights, RoundTripsThroughLoad) {
  torch::NoGradGuard no_grad;
  Toy a, b;
  a->scale.copy_(torch::tensor({3.0f, 4.0f}));
  const auto path = scratch("saved.safetensors");
  save_weights(*a, path, [](const std::string& name) { return "prefix." + name; });
  const auto file = st::File::open(path);
  EXPECT_EQ(file.names(), (std::vector<std::string>{"prefix.block.bias", "prefix.block.weight", "prefix.scale"}));
  const auto report = load_weights(*b, {path}, [](const std::string& key) { return key.substr(7); });
  EXPECT_TRUE(report.ok());
  EXPECT_TRUE(torch::equal(a->linear->weight, b->linear->weight));
  EXPECT_TRUE(torch::equal(a->scale, b->scale));
}

TEST(ParameterCount, CountsParametersNotBuffers) {
  Toy toy;
  EXPECT_EQ(parameter_count(*toy), 2 * 3 + 2);
}

TEST(SeededNormal, DependsOnlyOnSeedAndShape) {
  const auto a = seeded_normal({2, 3, 4}, 42);
  torch::manual_seed(999);
  (void)torch::randn({10});
  torch::set_num_threads(2);
  const auto b = seeded_normal({2, 3, 4}, 42);
  torch::set_num_threads(1);
  EXPECT_TRUE(torch::equal(a, b));
  EXPECT_FALSE(torch::equal(a, seeded_normal({2, 3, 4}, 43)));
  const auto big = seeded_normal({100000}, 1);
  EXPECT_NEAR(big.mean().item<double>(), 0.0, 0.02);
  EXPECT_NEAR(big.std().item<double>(), 1.0, 0.02);
  EXPECT_EQ(big.scalar_type(), torch::kFloat32);
}

TEST(InitSeeded, IsDeterministicWithSensibleScales) {
  ClipTextModel a(ClipTextConfig::tiny()), b(ClipTextConfig::tiny()), c(ClipTextConfig::tiny());
  init_seeded(*a, 5);
  init_seeded(*b, 5);
  init_seeded(*c, 6);
  auto pa = a->named_parameters(), pb = b->named_parameters(), pc = c->named_parameters();
  bool any_different = false;
  for (const auto& item : pa) {
    EXPECT_TRUE(torch::equal(item.value(), pb[item.key()])) << item.key();
    if (item.value().dim() >= 2) any_different |= !torch::equal(item.value(), pc[item.key()]);
  }
  EXPECT_TRUE(any_different);
  EXPECT_TRUE(torch::equal(pa["text_model.final_layer_norm.weight"], torch::ones({32})));
  EXPECT_TRUE(torch::equal(pa["text_model.final_layer_norm.bias"], torch::zeros({32})));
  const auto fc1 = pa["text_model.encoder.layers.0.mlp.fc1.weight"];  // [64, 32]: std 1/sqrt(32)
  EXPECT_NEAR(fc1.std().item<double>(), 1.0 / std::sqrt(32.0), 0.02);
  EXPECT_NEAR(pa["text_model.embeddings.token_embedding.weight"].std().item<double>(), 0.02, 0.002);
  // Same-shaped parameters get different values.
  EXPECT_FALSE(torch::equal(pa["text_model.encoder.layers.0.self_attn.q_proj.weight"],
                            pa["text_model.encoder.layers.0.self_attn.k_proj.weight"]));
}

// ---- CLIP text encoder files in the layouts published checkpoints use.

class ClipLayoutTest : public ::testing::Test {
 protected:
  ClipLayoutTest() : source_(config()), target_(config()) {
    init_seeded(*source_, 11);
  }
  static ClipTextConfig config() {
    auto c = ClipTextConfig::tiny();
    c.vocab_size = 50;
    c.layers = 1;
    return c;
  }
  // Writes source_'s weights with `prefix` before each HF name (minus "text_model." when
  // strip_text_model), plus `extra` tensors.
  fs::path write(const std::string& name, const std::string& prefix, bool strip_text_model,
                 std::map<std::string, st::OwnedTensor> extra = {}) {
    const auto path = scratch(name);
    save_weights(*source_, path, [&](const std::string& key) {
      return prefix + (strip_text_model ? key.substr(std::string("text_model.").size()) : key);
    });
    if (!extra.empty()) {
      auto tensors = extra;
      const auto file = st::File::open(path);
      for (const auto& key : file.names()) {
        const auto& view = file.tensor(key);
        tensors[key] = st::OwnedTensor{view.dtype, view.shape, std::vector<uint8_t>(view.data, view.data + view.bytes)};
      }
      st::write(path, tensors);
    }
    return path;
  }
  void expect_loaded() {
    for (const auto& item : source_->named_parameters()) {
      EXPECT_TRUE(torch::equal(item.value(), target_->named_parameters()[item.key()])) << item.key();
    }
  }
  static st::OwnedTensor position_ids() {
    st::OwnedTensor ids{st::DType::kI64, {1, 77}, std::vector<uint8_t>(77 * 8)};
    return ids;
  }
  ClipTextModel source_, target_;
};

TEST_F(ClipLayoutTest, DiffusersTextEncoderFile) {
  const auto path = write("text_encoder.safetensors", "", false, {{"text_model.embeddings.position_ids", position_ids()}});
  EXPECT_TRUE(load_clip_text_weights(*target_, path).ok());
  expect_loaded();
}

TEST_F(ClipLayoutTest, OriginalSingleFileCheckpoint) {
  const auto path = write("sd_single_file.safetensors", "cond_stage_model.transformer.", false,
                          {{"cond_stage_model.transformer.text_model.embeddings.position_ids", position_ids()},
                           {"model.diffusion_model.input_blocks.0.0.weight", f32({4})},
                           {"first_stage_model.decoder.conv_in.bias", f32({4})}});
  const auto report = load_clip_text_weights(*target_, path);
  EXPECT_TRUE(report.ok()) << report.summary();
  expect_loaded();
}

TEST_F(ClipLayoutTest, OldTransformersNamesWithoutTextModel) {
  const auto single = write("old_single_file.safetensors", "cond_stage_model.transformer.", true);
  EXPECT_TRUE(load_clip_text_weights(*target_, single).ok());
  expect_loaded();
  const auto bare = write("old_bare.safetensors", "", true);
  EXPECT_TRUE(load_clip_text_weights(*target_, bare).ok());
}

TEST_F(ClipLayoutTest, ProblemsAreNamed) {
  auto other = config();
  other.hidden_size = 16;
  other.heads = 2;
  ClipTextModel wider(other);
  const auto wrong_width = write("width32.safetensors", "cond_stage_model.transformer.", false);
  try {
    load_clip_text_weights(*wider, wrong_width);
    FAIL() << "mis-shaped weights were accepted";
  } catch (const core::InputError& error) {
    EXPECT_THAT(error.what(), HasSubstr("width32.safetensors"));
    // Every tensor is too wide; the message counts them and names the first ten.
    EXPECT_THAT(error.what(), HasSubstr("19 mis-shaped: "));
    EXPECT_THAT(error.what(), HasSubstr("text_model.embeddings.token_embedding.weight: file [50,32] vs model [50,16]"));
    EXPECT_THAT(error.what(), HasSubstr("(9 more)"));
  }

  auto deeper = config();
  deeper.layers = 2;
  ClipTextModel two_layers(deeper);
  try {
    load_clip_text_weights(*two_layers, wrong_width);
    FAIL() << "missing layers were accepted";
  } catch (const core::InputError& error) {
    EXPECT_THAT(error.what(), HasSubstr("missing: text_model.encoder.layers.1."));
  }

  const auto extra = write("extra.safetensors", "", false, {{"text_model.encoder.layers.7.mlp.fc1.weight", f32({2})}});
  try {
    load_clip_text_weights(*target_, extra);
    FAIL() << "an unexpected tensor was accepted";
  } catch (const core::InputError& error) {
    EXPECT_THAT(error.what(), HasSubstr("1 unexpected: text_model.encoder.layers.7.mlp.fc1.weight"));
  }

  const auto unrelated = scratch("unet_only.safetensors");
  st::write(unrelated, {{"conv_in.weight", f32({2})}});
  try {
    load_clip_text_weights(*target_, unrelated);
    FAIL() << "a file without text encoder tensors was accepted";
  } catch (const core::InputError& error) {
    EXPECT_THAT(error.what(), HasSubstr("unet_only.safetensors"));
    EXPECT_THAT(error.what(), HasSubstr("cond_stage_model.transformer"));
  }
}

}  // namespace
}  // namespace dsbench::diffusion
