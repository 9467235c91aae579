// evaluate_run for images without stored masks: subject boxes from a detector plug-in (a
// real one for this constructed case: it finds what differs from the background) or an
// imported detections file; and CLIP-T against the scene prompts of a dataset.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "core/errors.h"
#include "core/files.h"
#include "core/image.h"
#include "datasets/dataset.h"
#include "harness/evaluation/evaluation.h"
#include "metrics/aesthetic.h"
#include "metrics/clip.h"
#include "metrics/distance.h"
#include "metrics/dreamsim.h"
#include "tests/metrics/constructed_images.h"
#include "tests/metrics/one_subject_dataset.h"

namespace dsbench::evaluation {
namespace {

namespace fs = std::filesystem;

const char* kPython = "/usr/bin/python3";

core::Image filled(int w, int h, std::uint8_t value) { return dsbench::testing::filled(w, h, 3, value); }

// The striped object with its dark stripes at 3 and up: more than the test detector's
// tolerance (10) away from every background used here (10, 90, 255).
core::Image object(int tone) { return dsbench::testing::striped_object(tone, 3); }

core::Image with_object(int w, int h, std::uint8_t background, const core::Image& piece, int x0, int y0) {
  auto image = filled(w, h, background);
  dsbench::testing::paste(image, nullptr, piece, x0, y0);
  return image;
}

// The detector: for each request, the box of the pixels that differ from the top-left
// pixel (score 0.9) when there are any, and always the whole image at score 0.1 (which the
// 0.4 threshold must drop).
const char* kDetectorScript = R"(
import json, sys
from PIL import Image
for line in sys.stdin:
    request = json.loads(line)
    image = Image.open(request["image"]).convert("RGB")
    w, h = image.size
    pixels = image.load()
    background = pixels[0, 0]
    xs, ys = [], []
    for y in range(h):
        for x in range(w):
            if max(abs(a - b) for a, b in zip(pixels[x, y], background)) > 10:
                xs.append(x); ys.append(y)
    detections = [{"query": q, "box": [0, 0, w, h], "score": 0.1} for q in request["queries"]]
    if xs:
        detections += [{"query": q, "box": [min(xs), min(ys), max(xs) + 1, max(ys) + 1], "score": 0.9}
                       for q in request["queries"]]
    print(json.dumps({"id": request["id"], "detections": detections}))
)";

class DetectorEvaluationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("dsbench_eval_detector_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    const fs::path dir = root_ / "images/story1";
    fs::create_directories(dir);
    core::write_png_atomic(dir / "portrait_00.png", with_object(64, 64, 255, object(0), 20, 20));
    core::write_png_atomic(dir / "scene_00.png", with_object(80, 60, 90, object(0), 5, 5));
    core::write_png_atomic(dir / "scene_01.png", with_object(80, 60, 10, object(0), 50, 30));
    core::write_png_atomic(dir / "scene_02.png", with_object(80, 60, 90, object(3), 30, 10));
    core::write_png_atomic(dir / "scene_03.png", filled(80, 60, 90));  // nobody there

    std::vector<std::string> prompts;
    for (int n = 0; n < 4; ++n) prompts.push_back("Stripy in scene " + std::to_string(n));
    dsbench::testing::write_one_subject_dataset(root_ / "dataset", "story1", "constructed",
                                                {"Stripy", "stripes", "a striped tile", "striped tile"}, prompts);

    core::write_file_atomic(root_ / "detector.py", kDetectorScript);
    options_.model = "tiny-ensemble";
    options_.random_seed = 7;
    options_.batch_size = 3;
    options_.dataset_root = root_ / "dataset";
  }
  void TearDown() override { fs::remove_all(root_); }

  static bool have_python_with_pil() {
    return fs::exists(kPython) && std::system((std::string(kPython) + " -c 'import PIL' 2>/dev/null").c_str()) == 0;
  }

  std::optional<store::MetricValue> value(const store::Store& store, store::RunId run, const std::string& metric,
                                          int scene) {
    for (const auto& v : store.metric_values(run, metric))
      if (v.scene == scene) return v;
    return std::nullopt;
  }

  double crop_distance() const {  // the subject's crop vs the different object's crop
    const auto model = metrics::DreamSim::random("tiny-ensemble", 7);
    const auto e = model.embed({object(0), object(3)}).contiguous();
    return metrics::dreamsim_distance({e[0].data_ptr<float>(), 64}, {e[1].data_ptr<float>(), 64});
  }

  fs::path root_;
  Options options_;
};

TEST_F(DetectorEvaluationTest, WithoutMasksOrDetectorThereIsNoDnc) {
  auto store = store::Store::open(root_ / "store.sqlite");
  const auto run = import_images(store, root_ / "images", "vanilla-like");
  const auto report = evaluate_run(store, run, options_);
  EXPECT_EQ(report.detected_images, 0u);
  EXPECT_TRUE(store.metric_values(run, "dnc_ds").empty());
  EXPECT_EQ(store.metric_values(run, "dreamsim_scene_portrait").size(), 5u);  // 4 scenes + story
}

TEST_F(DetectorEvaluationTest, DetectorBoxesGiveTheHandDerivedDncValues) {
  if (!have_python_with_pil()) GTEST_SKIP() << "needs /usr/bin/python3 with PIL for the test detector";
  auto store = store::Store::open(root_ / "store.sqlite");
  const auto run = import_images(store, root_ / "images", "vanilla-like");
  Options options = options_;
  options.detector_command = std::string(kPython) + " " + (root_ / "detector.py").string();
  const auto report = evaluate_run(store, run, options);
  EXPECT_EQ(report.detected_images, 5u);  // the portrait and 4 scenes
  const double d = crop_distance();
  ASSERT_GT(d, 1e-3);
  EXPECT_NEAR(value(store, run, "dnc_ds_subject", 0)->value, 0.0, 1e-6);
  EXPECT_NEAR(value(store, run, "dnc_ds_subject", 1)->value, 0.0, 1e-6);
  EXPECT_NEAR(value(store, run, "dnc_ds_subject", 2)->value, d, 1e-5);
  EXPECT_NEAR(value(store, run, "dnc_ds", 0)->value, 1.0, 1e-6);
  EXPECT_NEAR(value(store, run, "dnc_ds", 2)->value, 1.0 - d, 1e-5);
  EXPECT_EQ(value(store, run, "dnc_ds", 3)->value, 0.0);  // nothing above threshold
  EXPECT_EQ(value(store, run, "detection_rate", 3)->value, 0.0);
  EXPECT_EQ(value(store, run, "detection_rate", -1)->value, 0.75);
  EXPECT_EQ(value(store, run, "dnc_ds", 0)->extra.at("boxes"), "detector");
  EXPECT_NEAR(value(store, run, "scene_consistency", -1)->value, 2.0 * d / 3.0, 1e-5);

  // Second evaluation: the detector is not run again (a command that would fail proves it).
  Options cached = options;
  const auto second = evaluate_run(store, run, cached);
  EXPECT_EQ(second.embedded, 0u);
  EXPECT_NEAR(value(store, run, "dnc_ds", 2)->value, 1.0 - d, 1e-5);

  // A threshold above the detector's scores finds nobody: every D&C value is 0.
  options.detector_threshold = 0.95;
  evaluate_run(store, run, options);
  EXPECT_EQ(value(store, run, "detection_rate", -1)->value, 0.0);
}

TEST_F(DetectorEvaluationTest, ImportedDetectionsFileGivesTheSameBoxes) {
  auto store = store::Store::open(root_ / "store.sqlite");
  const auto run = import_images(store, root_ / "images", "vanilla-like");
  const auto box_line = [](const std::string& image, int x0, int y0) {
    return "{\"image\": \"" + image + "\", \"detections\": [{\"query\": \"stripes\", \"box\": [" + std::to_string(x0) +
           ", " + std::to_string(y0) + ", " + std::to_string(x0 + 24) + ", " + std::to_string(y0 + 24) +
           "], \"score\": 0.8}]}\n";
  };
  core::write_file_atomic(root_ / "detections.jsonl",
                          box_line("story1/portrait_00.png", 20, 20) + box_line("story1/scene_00.png", 5, 5) +
                              box_line("story1/scene_01.png", 50, 30) + box_line("story1/scene_02.png", 30, 10) +
                              "{\"image\": \"story1/scene_03.png\", \"detections\": []}\n");
  Options options = options_;
  options.detections_file = root_ / "detections.jsonl";
  const auto report = evaluate_run(store, run, options);
  EXPECT_EQ(report.detected_images, 5u);
  const double d = crop_distance();
  EXPECT_NEAR(value(store, run, "dnc_ds", 2)->value, 1.0 - d, 1e-5);
  EXPECT_EQ(value(store, run, "dnc_ds", 3)->value, 0.0);
  EXPECT_EQ(value(store, run, "dnc_ds", 0)->extra.at("boxes"), "detections-file");

  // A malformed line is an InputError naming the file and line.
  core::write_file_atomic(root_ / "bad.jsonl", box_line("story1/scene_00.png", 5, 5) + "{\"image\": 3}\n");
  options.detections_file = root_ / "bad.jsonl";
  try {
    evaluate_run(store, run, options);
    ADD_FAILURE() << "expected an InputError";
  } catch (const core::InputError& error) {
    EXPECT_NE(std::string(error.what()).find("bad.jsonl:2"), std::string::npos) << error.what();
  }
}

// Stored masks and a detector: the detector boxes every image (every system scored with
// the same boxes) unless told to box only images without masks.
TEST_F(DetectorEvaluationTest, ADetectorOverridesStoredMasksUnlessScopedToUnmaskedImages) {
  const fs::path dir = root_ / "images/story1";
  core::Image wrong(80, 60, 1);  // a mask over the wrong place: the top-left corner
  for (int y = 0; y < 10; ++y)
    for (int x = 0; x < 10; ++x) wrong.at(y, x, 0) = 255;
  for (int n = 0; n < 4; ++n) core::write_png_atomic(dir / ("scene_0" + std::to_string(n) + "_mask_00.png"), wrong);
  auto store = store::Store::open(root_ / "store.sqlite");
  const auto run = import_images(store, root_ / "images", "masked");
  core::write_file_atomic(root_ / "detections.jsonl",
                          "{\"image\": \"story1/scene_02.png\", \"detections\": [{\"query\": \"stripes\", "
                          "\"box\": [30, 10, 54, 34], \"score\": 0.8}]}\n"
                          "{\"image\": \"story1/portrait_00.png\", \"detections\": [{\"query\": \"stripes\", "
                          "\"box\": [20, 20, 44, 44], \"score\": 0.8}]}\n");
  Options options = options_;
  options.detections_file = root_ / "detections.jsonl";
  evaluate_run(store, run, options);
  EXPECT_EQ(value(store, run, "dnc_ds", 2)->extra.at("boxes"), "detections-file");
  EXPECT_EQ(value(store, run, "dnc_ds", 0)->extra.at("boxes"), "mask");  // not in the file: its mask
  EXPECT_NEAR(value(store, run, "dnc_ds_subject", 2)->value, crop_distance(), 1e-5);

  options.detect_masked_images = false;
  evaluate_run(store, run, options);
  EXPECT_EQ(value(store, run, "dnc_ds", 2)->extra.at("boxes"), "mask");
}

TEST_F(DetectorEvaluationTest, AFailingDetectorIsARunErrorQuotingIt) {
  auto store = store::Store::open(root_ / "store.sqlite");
  const auto run = import_images(store, root_ / "images", "vanilla-like");
  Options options = options_;
  options.detector_command = "echo 'no weights for owlv2' >&2; exit 2";
  try {
    evaluate_run(store, run, options);
    ADD_FAILURE() << "expected a RunError";
  } catch (const core::RunError& error) {
    EXPECT_NE(std::string(error.what()).find("no weights for owlv2"), std::string::npos) << error.what();
  }
}

TEST_F(DetectorEvaluationTest, ClipTScoresEachSceneAgainstItsPrompt) {
  auto store = store::Store::open(root_ / "store.sqlite");
  const auto run = import_images(store, root_ / "images", "vanilla-like");
  Options options = options_;
  options.clip_model = "tiny-clip_vitb16";
  const auto report = evaluate_run(store, run, options);
  EXPECT_EQ(report.clip_scored, 4u);

  const auto clip = metrics::Clip::random("tiny-clip_vitb16", 7);
  const auto scene = core::read_image(root_ / "images/story1/scene_02.png");
  const auto image = clip.embed_images(clip.preprocess({scene})).contiguous();
  const auto text = clip.embed_texts({"Stripy in scene 2"}).contiguous();
  const int size = clip.embedding_size();
  const std::vector<float> image_embedding(image.data_ptr<float>(), image.data_ptr<float>() + size);
  const std::vector<float> text_embedding(text.data_ptr<float>(), text.data_ptr<float>() + size);
  const double expected = metrics::clip_score(image_embedding, text_embedding);
  const auto scored = value(store, run, "clip_t", 2);
  ASSERT_TRUE(scored);
  EXPECT_NEAR(scored->value, expected, 1e-4);
  EXPECT_EQ(scored->extra.at("text"), "Stripy in scene 2");
  EXPECT_EQ(scored->extra.at("text_source"), "scene");
  EXPECT_GE(scored->value, 0.0);
  EXPECT_LE(scored->value, 100.0);
  double mean = 0.0;
  for (int n = 0; n < 4; ++n) mean += value(store, run, "clip_t", n)->value / 4.0;
  EXPECT_NEAR(value(store, run, "clip_t", -1)->value, mean, 1e-9);

  // Cached: no image or text is embedded again, the values are the same.
  const auto second = evaluate_run(store, run, options);
  EXPECT_EQ(second.embedded, 0u);
  EXPECT_NEAR(value(store, run, "clip_t", 2)->value, expected, 1e-4);

  // An imported run has no generation prompts: "generation" falls back to the scene's.
  options.clip_text = "generation";
  evaluate_run(store, run, options);
  EXPECT_EQ(value(store, run, "clip_t", 2)->extra.at("text_source"), "scene");
}

TEST_F(DetectorEvaluationTest, AestheticScoresEachSceneFromItsClipEmbedding) {
  auto store = store::Store::open(root_ / "store.sqlite");
  const auto run = import_images(store, root_ / "images", "vanilla-like");
  Options options = options_;
  options.clip_model = "tiny-clip_vitb16";
  options.aesthetic = true;
  const auto report = evaluate_run(store, run, options);
  EXPECT_EQ(report.aesthetic_scored, 4u);

  const auto clip = metrics::Clip::random("tiny-clip_vitb16", 7);
  const auto predictor = metrics::AestheticPredictor::random(clip.embedding_size(), 7);
  const auto scene = core::read_image(root_ / "images/story1/scene_01.png");
  const double expected = predictor.score(clip.embed_images(clip.preprocess({scene})))[0].item<double>();
  const auto scored = value(store, run, "aesthetic", 1);
  ASSERT_TRUE(scored);
  EXPECT_NEAR(scored->value, expected, 1e-4);
  EXPECT_NE(scored->extra.at("model").get<std::string>().find("random"), std::string::npos);

  // Only the aesthetic score asked for: no CLIP-T values, no texts embedded.
  options.clip_text_metric = false;
  auto fresh = store::Store::open(root_ / "fresh.sqlite");
  const auto fresh_run = import_images(fresh, root_ / "images", "vanilla-like");
  const auto only = evaluate_run(fresh, fresh_run, options);
  EXPECT_EQ(only.clip_scored, 0u);
  EXPECT_EQ(only.aesthetic_scored, 4u);
  EXPECT_TRUE(fresh.metric_values(fresh_run, "clip_t").empty());

  // Full-size CLIP without weights: skipped with a note; weights for a CLIP other than
  // ViT-L/14: an InputError naming the key.
  options.clip_model = "clip_vitb16";
  const auto skipped = evaluate_run(store, run, options);
  EXPECT_EQ(skipped.aesthetic_scored, 0u);
  ASSERT_FALSE(skipped.notes.empty());
  EXPECT_NE(skipped.notes.back().find("aesthetic not scored"), std::string::npos);
  core::write_file_atomic(root_ / "aesthetic.safetensors", "x");
  options.aesthetic_weights = root_ / "aesthetic.safetensors";
  try {
    evaluate_run(store, run, options);
    ADD_FAILURE() << "expected an InputError";
  } catch (const core::InputError& error) {
    EXPECT_NE(std::string(error.what()).find("clip_vitl14"), std::string::npos) << error.what();
  }
}

TEST_F(DetectorEvaluationTest, ClipTIsSkippedWithANoteWithoutWeightsAndRejectsUnknownModels) {
  auto store = store::Store::open(root_ / "store.sqlite");
  const auto run = import_images(store, root_ / "images", "vanilla-like");
  Options options = options_;
  options.clip_model = "clip_vitl14";  // full size, no weights
  const auto report = evaluate_run(store, run, options);
  EXPECT_EQ(report.clip_scored, 0u);
  ASSERT_EQ(report.notes.size(), 1u);
  EXPECT_NE(report.notes[0].find("clip_vitl14"), std::string::npos);
  EXPECT_TRUE(store.metric_values(run, "clip_t").empty());
  options.clip_model = "clip_resnet50";
  EXPECT_THROW(evaluate_run(store, run, options), core::InputError);
  options.clip_model = "tiny-clip_vitb16";
  options.clip_text = "caption";
  EXPECT_THROW(evaluate_run(store, run, options), core::InputError);
  options.clip_text = "scene";
  options.dataset_root = root_ / "no-dataset";
  EXPECT_THROW(evaluate_run(store, run, options), core::InputError);
}

}  // namespace
}  // namespace dsbench::evaluation

namespace dsbench::evaluation {
namespace {

// The official DreamStory output for a DS-500 synthetic case, imported with the release as
// --dataset: the case name finds the scene prompt and the subjects' class words.
TEST(OfficialCaseFacts, ACaseFolderTakesItsPromptAndClassWordsFromTheRelease) {
  const fs::path release = fs::path(DSBENCH_SHARED_DIR) / "data/ds500";
  if (!fs::exists(release / "Synthetic-Cases-400")) GTEST_SKIP() << "the shared DS-500 copy is absent";
  const auto dataset = datasets::load_dataset(release);
  const auto story = std::find_if(dataset.stories.begin(), dataset.stories.end(),
                                  [](const datasets::Story& s) { return s.id == "synthetic-2-subject"; });
  ASSERT_NE(story, dataset.stories.end());
  const auto& scene = story->scenes.at(3);
  ASSERT_EQ(scene.subjects.size(), 2u);

  const fs::path root = fs::temp_directory_path() / ("dsbench_eval_case_" + std::to_string(::getpid()));
  fs::remove_all(root);
  const fs::path folder = root / "official" / scene.case_name / "scene";
  fs::create_directories(folder);
  for (int i = 0; i < 3; ++i) {
    core::write_png_atomic(folder / ("output_image_0" + std::to_string(i) + ".png"),
                           with_object(64, 64, static_cast<std::uint8_t>(40 * i), object(i), 8, 8));
  }
  // Source masks say how many portraits lead the batch; no target masks: the scene's
  // boxes must come from the detector.
  for (int s = 0; s < 2; ++s) {
    core::Image mask(64, 64, 1);
    std::fill(mask.pixels.begin(), mask.pixels.end(), 255);
    core::write_png_atomic(folder / ("source_mask_0" + std::to_string(s) + ".png"), mask);
  }
  auto store = store::Store::open(root / "store.sqlite");
  const auto run = import_images(store, root / "official", "dreamstory-official");
  Options options;
  options.model = "tiny-ensemble";
  options.clip_model = "tiny-clip_vitb16";
  options.dataset_root = release;
  // A detector that keeps what it was asked (and finds nothing).
  options.detector_command = "tee '" + (root / "asked.jsonl").string() +
                             "' | sed -n 's/.*\"id\":\"\\([^\"]*\\)\".*/{\"id\":\"\\1\",\"detections\":[]}/p'";
  const auto report = evaluate_run(store, run, options);
  EXPECT_EQ(report.clip_scored, 1u);
  const auto clip = store.metric_values(run, "clip_t");
  ASSERT_FALSE(clip.empty());
  EXPECT_EQ(clip.front().extra.at("text"), scene.prompt);

  const std::string asked = core::read_file(root / "asked.jsonl");
  const std::string first = story->subjects.at(static_cast<std::size_t>(scene.subjects[0])).kind;
  const std::string second = story->subjects.at(static_cast<std::size_t>(scene.subjects[1])).kind;
  EXPECT_NE(asked.find("\"queries\":[\"" + first + "\",\"" + second + "\"]"), std::string::npos) << asked;
  fs::remove_all(root);
}

}  // namespace
}  // namespace dsbench::evaluation
