// CLIP-T in libtorch against the independent torch.nn reference written from OpenAI's
// model.py (scripts/fixtures/make_clip_fixtures.py): the same tiny-clip_vitb16 weights in
// the Hugging Face and the OpenAI layout, golden token ids, OpenAI's image transform.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>

#include <nlohmann/json.hpp>

#include "core/errors.h"
#include "core/image.h"
#include "core/safetensors.h"
#include "metrics/clip.h"

namespace dsbench::metrics {
namespace {

namespace fs = std::filesystem;
namespace st = core::safetensors;
using Checkpoint = std::map<std::string, st::OwnedTensor>;

const fs::path kFixtures = fs::path(DSBENCH_SOURCE_DIR) / "tests/fixtures/metrics/clip_tiny";
constexpr const char* kModel = "tiny-clip_vitb16";
const std::string kHfTokenKey = "text_model.embeddings.token_embedding.weight";
const std::string kOpenAiTokenKey = "token_embedding.weight";

nlohmann::json expected() {
  std::ifstream in(kFixtures / "expected.json");
  return nlohmann::json::parse(in);
}


st::OwnedTensor f32_tensor(std::vector<std::int64_t> shape, const std::vector<float>& values) {
  st::OwnedTensor owned;
  owned.shape = std::move(shape);
  owned.data.resize(values.size() * sizeof(float));
  std::memcpy(owned.data.data(), values.data(), owned.data.size());
  return owned;
}

// The fixture files leave the [49408, 32] token embedding out (6 MB); it is zero except
// for the rows of token_rows.safetensors.
st::OwnedTensor full_token_embedding() {
  const auto rows = st::File::open(kFixtures / "token_rows.safetensors");
  const auto& ids = rows.tensor("ids");
  const auto& values = rows.tensor("rows");
  EXPECT_EQ(ids.dtype, st::DType::kI64);
  EXPECT_EQ(values.dtype, st::DType::kF32);
  const std::int64_t width = values.shape.at(1);
  std::vector<float> full(static_cast<std::size_t>(49408 * width), 0.0f);
  for (std::int64_t r = 0; r < ids.numel(); ++r) {
    std::int64_t id = 0;
    std::memcpy(&id, ids.data + r * sizeof(std::int64_t), sizeof id);
    std::memcpy(&full[static_cast<std::size_t>(id * width)], values.data + r * width * sizeof(float),
                width * sizeof(float));
  }
  return f32_tensor({49408, width}, full);
}

class ClipTest : public ::testing::Test {
 protected:
  void SetUp() override {
    directory_ = fs::temp_directory_path() /
                 ("dsbench-clip-test-" + std::to_string(::getpid()) + "-" +
                  ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(directory_);
  }
  void TearDown() override { fs::remove_all(directory_); }

  // A loadable copy of a fixture layout ("hf" / "openai"), after `edit`.
  fs::path layout_file(const std::string& layout, const std::function<void(Checkpoint&)>& edit = {}) {
    auto tensors = st::read_all(kFixtures / (layout + ".safetensors"));
    tensors[layout == "hf" ? kHfTokenKey : kOpenAiTokenKey] = full_token_embedding();
    if (edit) edit(tensors);
    const auto file = directory_ / (layout + ".safetensors");
    st::write(file, tensors);
    return file;
  }

  fs::path directory_;
};

std::vector<float> row(const torch::Tensor& matrix, std::int64_t index) {
  const auto r = matrix[index].contiguous().to(torch::kFloat32);
  return {r.data_ptr<float>(), r.data_ptr<float>() + r.numel()};
}

std::vector<core::Image> fixture_images(const nlohmann::json& reference) {
  std::vector<core::Image> images;
  for (const auto& image : reference["images"]) images.push_back(core::read_image(kFixtures / image["file"].get<std::string>()));
  return images;
}

std::vector<std::string> fixture_texts(const nlohmann::json& reference) {
  std::vector<std::string> texts;
  for (const auto& text : reference["texts"]) texts.push_back(text["text"].get<std::string>());
  return texts;
}

TEST_F(ClipTest, PreprocessMatchesOpenAiTransformWithin1e3) {
  const auto reference = expected();
  const auto clip = Clip::random(kModel, 3);
  const auto images = fixture_images(reference);
  const auto pixels = clip.preprocess(images);
  ASSERT_EQ(pixels.sizes(), (std::vector<std::int64_t>{3, 3, 224, 224}));
  for (std::size_t i = 0; i < images.size(); ++i) {
    const auto& want = reference["images"][i];
    const auto image = pixels[static_cast<long>(i)].to(torch::kFloat64);
    // 150,528 elements each within 1e-3 (in practice equal up to float rounding).
    EXPECT_NEAR(image.sum().item<double>(), want["pixel_sum"].get<double>(), 0.05) << want["file"];
    EXPECT_NEAR(image.abs().sum().item<double>(), want["pixel_abs_sum"].get<double>(), 0.05) << want["file"];
    for (const auto& sample : want["samples"]) {
      const int c = sample[0], y = sample[1], x = sample[2];
      EXPECT_NEAR(image[c][y][x].item<double>(), sample[3].get<double>(), 1e-3)
          << want["file"] << " c" << c << " y" << y << " x" << x;
    }
  }
}

TEST_F(ClipTest, BothLayoutsMatchTheReferenceEmbeddingsAndScores) {
  const auto reference = expected();
  const auto texts = fixture_texts(reference);
  const auto images = fixture_images(reference);
  for (const std::string layout : {"hf", "openai"}) {
    SCOPED_TRACE(layout);
    const auto clip = Clip::load(kModel, layout_file(layout));
    EXPECT_EQ(clip.model_id(), kModel);
    ASSERT_EQ(clip.embedding_size(), 16);
    const auto text_embeddings = clip.embed_texts(texts);
    const auto image_embeddings = clip.embed_images(clip.preprocess(images));
    ASSERT_EQ(text_embeddings.sizes(), (std::vector<std::int64_t>{static_cast<long>(texts.size()), 16}));
    ASSERT_EQ(image_embeddings.sizes(), (std::vector<std::int64_t>{static_cast<long>(images.size()), 16}));
    for (std::size_t t = 0; t < texts.size(); ++t) {
      const auto want = reference["texts"][t]["embedding"].get<std::vector<float>>();
      const auto got = row(text_embeddings, static_cast<long>(t));
      for (int d = 0; d < 16; ++d) EXPECT_NEAR(got[d], want[d], 1e-4) << "text " << t << " dim " << d;
    }
    for (std::size_t i = 0; i < images.size(); ++i) {
      const auto want = reference["images"][i]["embedding"].get<std::vector<float>>();
      const auto got = row(image_embeddings, static_cast<long>(i));
      for (int d = 0; d < 16; ++d) EXPECT_NEAR(got[d], want[d], 1e-4) << "image " << i << " dim " << d;
    }
    for (std::size_t i = 0; i < images.size(); ++i) {
      for (std::size_t t = 0; t < texts.size(); ++t) {
        const double score = clip_score(row(image_embeddings, static_cast<long>(i)), row(text_embeddings, static_cast<long>(t)));
        EXPECT_NEAR(score, reference["scores"][i][t].get<double>(), 1e-3) << "image " << i << " text " << t;
      }
    }
  }
}

TEST_F(ClipTest, BatchingAndPaddingDoNotChangeEmbeddings) {
  // The reference pads with 0 (openai clip.tokenize), we pad with the end token: the match
  // above shows pooling ignores padding; here each text alone equals the batch.
  const auto reference = expected();
  const auto texts = fixture_texts(reference);
  const auto clip = Clip::load(kModel, layout_file("openai"));
  const auto batch = clip.embed_texts(texts);
  for (std::size_t t = 0; t < texts.size(); ++t) {
    EXPECT_TRUE(torch::allclose(clip.embed_texts({texts[t]})[0], batch[static_cast<long>(t)], 1e-5, 1e-6)) << t;
  }
  EXPECT_EQ(clip.embed_texts({}).sizes(), (std::vector<std::int64_t>{0, 16}));
}

TEST_F(ClipTest, LongPromptsKeepTheFirst75TokensAndTheEndToken) {
  const auto reference = expected();
  // Line 28 of the golden file has 100 ids; the reference truncated it to bos + 75 + eos.
  const auto& long_text = reference["texts"][5];
  ASSERT_GT(long_text["text"].get<std::string>().size(), 300u);
  ASSERT_EQ(long_text["ids"].size(), 77u);
  EXPECT_EQ(long_text["ids"][76].get<int>(), 49407);
  const auto clip = Clip::load(kModel, layout_file("hf"));
  std::string cats75, cats120;
  for (int i = 0; i < 120; ++i) (i < 75 ? cats75 : cats120) += "cat ";
  cats120 = cats75 + cats120;
  const auto embeddings = clip.embed_texts({cats75, cats120, cats75 + "cat"});
  // The same ids in three rows of one batch: equal up to the rounding OpenBLAS's blocking
  // gives each row (4.8e-7 seen on an EPYC with the Haswell kernels), far below the 1e-3
  // by which another prompt differs.
  EXPECT_TRUE(torch::allclose(embeddings[0], embeddings[1], 1e-5, 1e-5))
      << (embeddings[0] - embeddings[1]).abs().max().item<float>();
  EXPECT_TRUE(torch::allclose(embeddings[0], embeddings[2], 1e-5, 1e-5))  // the 76th cat is cut too
      << (embeddings[0] - embeddings[2]).abs().max().item<float>();
  EXPECT_FALSE(torch::allclose(embeddings[0], clip.embed_texts({"cat cat"})[0], 1e-3, 1e-3));
}

std::string load_error(const std::string& model, const fs::path& file) {
  try {
    Clip::load(model, file);
  } catch (const core::InputError& error) {
    return error.what();
  }
  return "(no InputError)";
}

TEST_F(ClipTest, MissingKeyIsNamedWithTheFile) {
  const auto file = layout_file("openai", [](Checkpoint& c) { c.erase("visual.ln_post.bias"); });
  const auto message = load_error(kModel, file);
  EXPECT_NE(message.find("visual.ln_post.bias"), std::string::npos) << message;
  EXPECT_NE(message.find("missing"), std::string::npos) << message;
  EXPECT_NE(message.find(file.string()), std::string::npos) << message;
}

TEST_F(ClipTest, MisShapedKeyIsNamedWithTheFile) {
  const auto file = layout_file("hf", [](Checkpoint& c) {
    c["visual_projection.weight"] = f32_tensor({8, 32}, std::vector<float>(8 * 32, 0.5f));
  });
  const auto message = load_error(kModel, file);
  EXPECT_NE(message.find("visual_projection.weight"), std::string::npos) << message;
  EXPECT_NE(message.find("[8,32]"), std::string::npos) << message;
  EXPECT_NE(message.find("[16,32]"), std::string::npos) << message;
  EXPECT_NE(message.find(file.string()), std::string::npos) << message;
  // The same weights under a model of another shape: the patch size differs.
  const auto wrong_model = load_error("tiny-clip_vitb32", layout_file("openai"));
  EXPECT_NE(wrong_model.find("visual.conv1.weight"), std::string::npos) << wrong_model;
  EXPECT_NE(wrong_model.find("visual.positional_embedding"), std::string::npos) << wrong_model;
}

TEST_F(ClipTest, UnexpectedKeysAreErrorsButBookkeepingKeysAreIgnored) {
  // The fixtures carry logit_scale (both) and transformers' int64 position_ids (hf).
  EXPECT_TRUE(st::read_all(kFixtures / "hf.safetensors").count("text_model.embeddings.position_ids"));
  const auto file = layout_file("hf", [](Checkpoint& c) {
    c["vision_model.encoder.layers.2.layer_norm1.weight"] = f32_tensor({32}, std::vector<float>(32, 1.0f));
  });
  const auto message = load_error(kModel, file);
  EXPECT_NE(message.find("unexpected"), std::string::npos) << message;
  EXPECT_NE(message.find("vision_model.encoder.layers.2.layer_norm1.weight"), std::string::npos) << message;
}

TEST_F(ClipTest, UnknownLayoutModelAndFileAreInputErrors) {
  const auto foreign = directory_ / "foreign.safetensors";
  st::write(foreign, {{"encoder.weight", f32_tensor({2}, {1.0f, 2.0f})}});
  const auto message = load_error(kModel, foreign);
  EXPECT_NE(message.find("layout"), std::string::npos) << message;
  EXPECT_NE(message.find(foreign.string()), std::string::npos) << message;

  const auto unknown = load_error("clip_resnet50", layout_file("hf"));
  EXPECT_NE(unknown.find("clip_resnet50"), std::string::npos) << unknown;
  EXPECT_NE(unknown.find("clip_vitl14"), std::string::npos) << unknown;
  EXPECT_THROW(Clip::random("tiny-dino_vitb16", 1), core::InputError);
  EXPECT_NE(load_error(kModel, directory_ / "absent.safetensors").find("absent.safetensors"), std::string::npos);
}

TEST_F(ClipTest, RandomModelsAreDeterministicAndSayRandom) {
  EXPECT_EQ(clip_model_names(), (std::vector<std::string>{"clip_vitb16", "clip_vitb32", "clip_vitl14"}));
  const auto a = Clip::random("tiny-clip_vitb32", 5);
  const auto b = Clip::random("tiny-clip_vitb32", 5);
  EXPECT_NE(a.model_id().find("random"), std::string::npos);
  EXPECT_EQ(a.embedding_size(), 16);
  const auto pixels = a.preprocess({core::read_image(kFixtures / "image_1.png")});
  EXPECT_TRUE(torch::equal(a.embed_images(pixels), b.embed_images(pixels)));
  EXPECT_TRUE(torch::equal(a.embed_texts({"a fox"}), b.embed_texts({"a fox"})));
  EXPECT_EQ(Clip::random("tiny-clip_vitl14", 1).embed_images(pixels).size(1), 16);
  EXPECT_THROW(a.embed_images(torch::zeros({1, 3, 64, 64})), core::InputError);
  EXPECT_THROW(a.preprocess({core::Image{}}), core::InputError);
}

TEST(ClipScore, IsHundredTimesTheClampedCosine) {
  EXPECT_NEAR(clip_score({1, 0}, {2, 0}), 100.0, 1e-9);
  EXPECT_NEAR(clip_score({1, 0}, {0, 3}), 0.0, 1e-9);
  EXPECT_NEAR(clip_score({1, 0}, {-1, 0}), 0.0, 1e-9);  // negative cosines clamp to 0
  EXPECT_NEAR(clip_score({1, 0}, {0.5f, std::sqrt(3.0f) / 2}), 50.0, 1e-5);
  EXPECT_THROW(clip_score({}, {}), core::InputError);
  EXPECT_THROW(clip_score({1, 2}, {1, 2, 3}), core::InputError);
  EXPECT_THROW(clip_score({0, 0}, {1, 2}), core::InputError);
  EXPECT_THROW(clip_score({NAN, 0}, {1, 2}), core::InputError);
}

}  // namespace
}  // namespace dsbench::metrics
