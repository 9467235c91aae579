// evaluate_run on a constructed story: one subject whose exact crop is pasted into two
// scenes, a different object in a third, nothing in a fourth. Expected values are
// derived by hand from the distance d between the two crops (tiny random DreamSim).
#include <gtest/gtest.h>

#include <filesystem>
#include <unistd.h>

#include "core/errors.h"
#include "core/image.h"
#include "harness/evaluation/evaluation.h"
#include "metrics/dinov2.h"
#include "metrics/distance.h"
#include "metrics/dreamsim.h"
#include "tests/metrics/constructed_images.h"

namespace dsbench::evaluation {
namespace {

namespace fs = std::filesystem;

using dsbench::testing::filled;
using dsbench::testing::paste;

core::Image object(int tone) { return dsbench::testing::striped_object(tone); }

class EvaluationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("dsbench_eval_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_ / "images/story1");
    const fs::path dir = root_ / "images/story1";
    // Portrait: the object on white, its mask exactly the object.
    auto portrait = filled(64, 64, 3, 255);
    auto portrait_mask = filled(64, 64, 1, 0);
    paste(portrait, &portrait_mask, object(0), 20, 20);
    core::write_png_atomic(dir / "portrait_00.png", portrait);
    core::write_png_atomic(dir / "portrait_00_mask.png", portrait_mask);
    const auto scene = [&](int index, const core::Image& piece, int x0, int y0, std::uint8_t background, bool masked) {
      auto image = filled(80, 60, 3, background);
      auto mask = filled(80, 60, 1, 0);
      paste(image, masked ? &mask : nullptr, piece, x0, y0);
      char name[64];
      std::snprintf(name, sizeof name, "scene_%02d.png", index);
      core::write_png_atomic(dir / name, image);
      std::snprintf(name, sizeof name, "scene_%02d_mask_00.png", index);
      core::write_png_atomic(dir / name, mask);
    };
    scene(0, object(0), 5, 5, 90, true);     // the same crop
    scene(1, object(0), 50, 30, 10, true);   // the same crop elsewhere on another background
    scene(2, object(3), 30, 10, 90, true);   // a different object
    scene(3, object(0), 30, 10, 90, false);  // not detected (empty mask)
    options_.model = "tiny-ensemble";
    options_.random_seed = 7;
    options_.batch_size = 3;
  }
  void TearDown() override { fs::remove_all(root_); }

  double value(const store::Store& store, store::RunId run, const std::string& metric, int scene) {
    for (const auto& v : store.metric_values(run, metric))
      if (v.scene == scene) return v.value;
    ADD_FAILURE() << "no " << metric << " for scene " << scene;
    return std::nan("");
  }

  fs::path root_;
  Options options_;
};

TEST_F(EvaluationTest, SameCropVersusDifferentOneOrdersAsExpectedAndMatchesHandValues) {
  auto store = store::Store::open(root_ / "store.sqlite");
  const auto run = import_images(store, root_ / "images", "external");
  const auto report = evaluate_run(store, run, options_);
  // Distinct embeddings: portrait, portrait crop, 4 scenes, 3 detected scene crops, but
  // scenes 0 and 1 crop to the same pixels as the portrait crop (keys differ: 2 rows).
  EXPECT_EQ(report.images, 1u + 1u + 4u + 3u);
  EXPECT_EQ(report.embedded, report.images);

  // d: the distance between the subject's crop and the different object's crop.
  const auto model = metrics::DreamSim::random("tiny-ensemble", 7);
  const auto e = model.embed({object(0), object(3)}).contiguous();
  const float* a = e[0].data_ptr<float>();
  const float* b = e[1].data_ptr<float>();
  const double d = metrics::dreamsim_distance({a, 64}, {b, 64});
  ASSERT_GT(d, 1e-3);

  EXPECT_NEAR(value(store, run, "dnc_ds_subject", 0), 0.0, 1e-6);
  EXPECT_NEAR(value(store, run, "dnc_ds_subject", 1), 0.0, 1e-6);
  EXPECT_NEAR(value(store, run, "dnc_ds_subject", 2), d, 1e-5);
  EXPECT_LT(value(store, run, "dnc_ds_subject", 1), value(store, run, "dnc_ds_subject", 2));
  // One subject: S_DC = [1 - d'], S_GT = [1] -> score = 1 - |(1 - d) - 1| = 1 - d.
  EXPECT_NEAR(value(store, run, "dnc_ds", 0), 1.0, 1e-6);
  EXPECT_NEAR(value(store, run, "dnc_ds", 2), 1.0 - d, 1e-5);
  EXPECT_EQ(value(store, run, "dnc_ds", 3), 0.0);  // undetected: #detections != #subjects
  EXPECT_EQ(value(store, run, "detection_rate", 3), 0.0);
  EXPECT_EQ(value(store, run, "detection_rate", 0), 1.0);
  EXPECT_EQ(value(store, run, "dnc_ds_subject_strict", 3), 1.0);
  // Story level: means over scenes; consistency over crop pairs (0,1)=0, (0,2)=d, (1,2)=d.
  EXPECT_NEAR(value(store, run, "dnc_ds_subject", -1), d / 3.0, 1e-5);
  EXPECT_NEAR(value(store, run, "dnc_ds_subject_strict", -1), (d + 1.0) / 4.0, 1e-5);
  EXPECT_NEAR(value(store, run, "detection_rate", -1), 0.75, 1e-12);
  EXPECT_NEAR(value(store, run, "dnc_ds", -1), (1.0 + 1.0 + (1.0 - d) + 0.0) / 4.0, 1e-5);
  EXPECT_NEAR(value(store, run, "scene_consistency", -1), 2.0 * d / 3.0, 1e-5);
  // Whole-image DreamSim exists per scene and differs from the crop form.
  EXPECT_GT(value(store, run, "dreamsim_scene_portrait", 0), 1e-4);

  const auto summaries = store.metric_summaries(run);
  bool found = false;
  for (const auto& s : summaries) {
    if (s.system == "external" && s.metric == "scene_consistency" && s.group_kind == "all") {
      found = true;
      EXPECT_EQ(s.n, 1);
      EXPECT_NEAR(s.mean, 2.0 * d / 3.0, 1e-5);
    }
    if (s.group_kind == "subjects") {
      EXPECT_EQ(s.group_value, "1");
    }
  }
  EXPECT_TRUE(found);

  // Second evaluation: everything from the cache, same values.
  const double before = value(store, run, "scene_consistency", -1);
  const auto second = evaluate_run(store, run, options_);
  EXPECT_EQ(second.embedded, 0u);
  EXPECT_EQ(second.values, report.values);
  EXPECT_DOUBLE_EQ(value(store, run, "scene_consistency", -1), before);
}

TEST_F(EvaluationTest, DncDinoScoresTheSameCropsWithDinov2MeanTokens) {
  auto store = store::Store::open(root_ / "store.sqlite");
  const auto run = import_images(store, root_ / "images", "external");
  Options options = options_;
  options.dino_model = "tiny-dinov2_vitb14";
  const auto report = evaluate_run(store, run, options);
  // DINOv2 embeds the portrait crop and the 3 detected scene crops, nothing whole.
  EXPECT_EQ(report.images, 1u + 1u + 4u + 3u + 4u);
  EXPECT_EQ(report.dino_scored, 4u);
  // By hand, one subject: S_DC = [cos(scene crop, portrait crop)], S_GT = [1], so the
  // score is that cosine of the raw DINOv2 features (MuDI does not centre them).
  const auto model = metrics::Dinov2::random("tiny-dinov2_vitb14", 7);
  const auto e = model.embed_pixels(model.preprocess({object(0), object(3)}));
  const double cosine = torch::cosine_similarity(e[0], e[1], 0).item<double>();
  ASSERT_LT(cosine, 1.0 - 1e-4);
  EXPECT_NEAR(value(store, run, "dnc_dino", 0), 1.0, 1e-6);
  EXPECT_NEAR(value(store, run, "dnc_dino", 1), 1.0, 1e-6);
  EXPECT_NEAR(value(store, run, "dnc_dino", 2), cosine, 1e-5);
  EXPECT_EQ(value(store, run, "dnc_dino", 3), 0.0);  // undetected
  EXPECT_NEAR(value(store, run, "dnc_dino", -1), (1.0 + 1.0 + cosine + 0.0) / 4.0, 1e-5);
  // Its own cache rows: a second evaluation embeds nothing.
  EXPECT_EQ(evaluate_run(store, run, options).embedded, 0u);

  // A full-size model without weights is skipped with a note; an unknown one is refused.
  options.dino_model = "dinov2_vitb14";
  const auto skipped = evaluate_run(store, run, options);
  ASSERT_EQ(skipped.notes.size(), 1u);
  EXPECT_NE(skipped.notes[0].find("dnc_dino"), std::string::npos);
  EXPECT_EQ(skipped.dino_scored, 0u);
  options.dino_model = "dinov2_vitg14";
  EXPECT_THROW(evaluate_run(store, run, options), core::InputError);
}

TEST_F(EvaluationTest, PatchModelsScoreWithTheirPackagedEmbeddings) {
  auto store = store::Store::open(root_ / "store.sqlite");
  const auto run = import_images(store, root_ / "images", "external");
  Options options = options_;
  options.model = "tiny-dino_vitb16_patch";
  evaluate_run(store, run, options);
  const auto model = metrics::DreamSim::random("tiny-dino_vitb16_patch", 7);
  const auto e = model.embed({object(0), object(3)}).contiguous();
  const std::span<const float> a{e[0].data_ptr<float>(), 64}, b{e[1].data_ptr<float>(), 64};
  // Per-token normalisation leaves both halves zero-mean: the packaged distance is the
  // plain cosine distance of these embeddings.
  const double d = metrics::dreamsim_distance(a, b, metrics::DistanceForm::uncentred);
  ASSERT_GT(d, 1e-4);
  EXPECT_NEAR(metrics::dreamsim_distance(a, b), d, 1e-9);
  EXPECT_NEAR(value(store, run, "dnc_ds_subject", 2), d, 1e-5);
  EXPECT_NEAR(value(store, run, "dnc_ds", 2), 1.0 - d, 1e-5);
}

TEST_F(EvaluationTest, OfficialDreamStoryLayoutImports) {
  const fs::path dir = root_ / "official/storyA";
  for (const std::string scene : {"00_scene", "01_scene"}) {
    fs::create_directories(dir / scene);
    for (int i = 0; i < 3; ++i) {  // portraits 0, 1 then the scene
      core::write_png_atomic(dir / scene / ("output_image_0" + std::to_string(i) + ".png"), filled(32, 32, 3, 40 * i));
    }
    for (int s = 0; s < 2; ++s) {
      core::write_png_atomic(dir / scene / ("source_mask_0" + std::to_string(s) + ".png"), filled(32, 32, 1, 255));
      core::write_png_atomic(dir / scene / ("target_mask_0" + std::to_string(s) + ".png"), filled(32, 32, 1, 255));
    }
  }
  auto store = store::Store::open(root_ / "store.sqlite");
  const auto run = import_images(store, root_ / "official", "dreamstory-official");
  EXPECT_EQ(store.get_run(run).status, "imported");
  const auto items = store.list_items(run, "done");
  EXPECT_EQ(items.size(), 4u);  // 2 portraits + 2 scenes
  std::size_t masks = 0;
  for (const auto& artifact : store.artifacts_of_run(run)) masks += artifact.kind == "mask";
  EXPECT_EQ(masks, 2u + 4u);
  const auto report = evaluate_run(store, run, options_);
  EXPECT_GT(report.values, 0u);
  EXPECT_EQ(store.metric_values(run, "detection_rate").size(), 3u);  // 2 scenes + story

  // A scene folder with the wrong number of outputs is an InputError naming it.
  fs::remove(dir / "01_scene/output_image_02.png");
  EXPECT_THROW(import_images(store, root_ / "official", "x"), core::InputError);
}

TEST_F(EvaluationTest, CategorySummariesFromGivenCategories) {
  auto store = store::Store::open(root_ / "store.sqlite");
  const auto run = import_images(store, root_ / "images", "external");
  Options options = options_;
  options.story_categories = {{"story1", "fairy-tale"}};
  evaluate_run(store, run, options);
  std::size_t category_rows = 0;
  for (const auto& s : store.metric_summaries(run)) {
    if (s.group_kind != "category") continue;
    ++category_rows;
    EXPECT_EQ(s.group_value, "fairy-tale");
  }
  EXPECT_EQ(category_rows, 6u);  // one per story-level metric
}

TEST_F(EvaluationTest, ImportedRunHasNoCategoryRows) {  // no dataset behind an import
  auto store = store::Store::open(root_ / "store.sqlite");
  const auto run = import_images(store, root_ / "images", "external");
  evaluate_run(store, run, options_);
  for (const auto& s : store.metric_summaries(run)) EXPECT_NE(s.group_kind, "category");
}

TEST_F(EvaluationTest, ErrorsNameTheProblem) {
  auto store = store::Store::open(root_ / "store.sqlite");
  EXPECT_THROW(import_images(store, root_ / "nowhere", "x"), core::InputError);
  fs::create_directories(root_ / "empty/story");
  EXPECT_THROW(import_images(store, root_ / "empty", "x"), core::InputError);
  const auto run = import_images(store, root_ / "images", "external");
  Options real = options_;
  real.model = "ensemble";  // full-size without weights
  EXPECT_THROW(evaluate_run(store, run, real), core::InputError);
  real.model = "no-such-model";
  EXPECT_THROW(evaluate_run(store, run, real), core::InputError);
}

}  // namespace
}  // namespace dsbench::evaluation
