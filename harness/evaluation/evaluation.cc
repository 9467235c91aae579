#include "harness/evaluation/evaluation.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <map>
#include <optional>
#include <set>

#include "core/errors.h"
#include "core/hashing.h"
#include "core/image.h"
#include "harness/evaluation/artifacts.h"
#include "harness/evaluation/boxes.h"
#include "harness/evaluation/embeddings.h"
#include "harness/evaluation/facts.h"
#include "metrics/aesthetic.h"
#include "metrics/clip.h"
#include "metrics/crops.h"
#include "metrics/dinov2.h"
#include "metrics/distance.h"
#include "metrics/dnc.h"
#include "metrics/dreamsim.h"
#include "metrics/grouping.h"

namespace dsbench::evaluation {
namespace {

namespace fs = std::filesystem;

// Cached embeddings follow the weights' bytes: another conversion of the same model (a
// fixed converter, other LoRA) gets its own cache rows. Digests are memoised in the store,
// so a re-evaluation does not rehash gigabytes.
std::string weights_tag(store::Store& store, const std::vector<fs::path>& files) {
  core::Sha256 combined;
  for (const auto& file : files) combined.update(store.file_sha256(file));
  return "-sha256-" + combined.hex_digest().substr(0, 16);
}

std::vector<fs::path> dreamsim_weight_files(const Options& options) {
  std::vector<fs::path> files;
  for (const auto& spec : metrics::dreamsim_backbones(options.model)) {
    files.push_back(options.weights_dir / (spec.name + ".safetensors"));
  }
  return files;
}

std::string dreamsim_cache_id(store::Store& store, const Options& options) {
  if (options.weights_dir.empty()) {
    return "dreamsim-" + options.model + "-random-seed" + std::to_string(options.random_seed);
  }
  for (const auto& file : dreamsim_weight_files(options)) {
    if (!fs::is_regular_file(file)) {
      throw core::InputError(core::Location{file.string(), 0, "evaluation.weights"},
                             "missing DreamSim weights for model " + options.model +
                                 " (scripts/convert_dreamsim.py writes them)");
    }
  }
  return "dreamsim-" + options.model + weights_tag(store, dreamsim_weight_files(options));
}

std::string clip_cache_id(store::Store& store, const Options& options) {
  if (options.clip_weights.empty()) {
    return "clip-" + options.clip_model + "-random-seed" + std::to_string(options.random_seed);
  }
  if (!fs::is_regular_file(options.clip_weights)) {
    throw core::InputError(core::Location{options.clip_weights.string(), 0, "evaluation.clip_weights"},
                           "a CLIP weights file (safetensors; scripts/convert_clip.py writes one)");
  }
  return "clip-" + options.clip_model + weights_tag(store, {options.clip_weights});
}

bool is_tiny(const std::string& model) { return model.starts_with("tiny-"); }

metrics::DreamSim make_dreamsim(const Options& options) {
  if (options.weights_dir.empty()) {
    if (!is_tiny(options.model) && !options.allow_random_full_size) {
      throw core::InputError(core::Location{"", 0, "metrics.dreamsim.weights"},
                             "DreamSim model '" + options.model +
                                 "' needs converted weights (--weights DIR; scripts/convert_dreamsim.py); "
                                 "only tiny-* models run with random weights");
    }
    return metrics::DreamSim::random(options.model, options.random_seed);
  }
  return metrics::DreamSim::load(options.model, options.weights_dir);
}

std::string dino_cache_id(store::Store& store, const Options& options) {
  if (options.dino_weights.empty()) {
    return "dinov2-" + options.dino_model + "-random-seed" + std::to_string(options.random_seed);
  }
  if (!fs::is_regular_file(options.dino_weights)) {
    throw core::InputError(core::Location{options.dino_weights.string(), 0, "evaluation.dino_weights"},
                           "a DINOv2 weights file (safetensors; scripts/convert_dinov2.py writes one)");
  }
  return "dinov2-" + options.dino_model + weights_tag(store, {options.dino_weights});
}

metrics::Dinov2 make_dinov2(const Options& options) {
  if (options.dino_weights.empty()) return metrics::Dinov2::random(options.dino_model, options.random_seed);
  return metrics::Dinov2::load(options.dino_model, options.dino_weights);
}

metrics::Clip make_clip(const Options& options) {
  if (options.clip_weights.empty()) return metrics::Clip::random(options.clip_model, options.random_seed);
  return metrics::Clip::load(options.clip_model, options.clip_weights);
}

std::string mask_crop_key(const std::string& image_sha, const std::string& mask_sha) {
  return core::sha256_hex("white-square-crop-v1:" + image_sha + ":" + mask_sha);
}

std::string box_crop_key(const std::string& image_sha, const metrics::Box& box) {
  return core::sha256_hex("white-square-crop-v1:" + image_sha + ":box:" + std::to_string(box.x0) + "," +
                          std::to_string(box.y0) + "," + std::to_string(box.x1) + "," + std::to_string(box.y1));
}

std::string text_key(const std::string& text) { return core::sha256_hex("clip-text-v1:" + text); }

// Embeddings as rows for the D&C score. DreamSim's are mean-centred (its packaged form,
// so that their cosines are 1 - the distance); MuDI compares DINOv2's raw.
enum class Rows { centred, raw };
Eigen::MatrixXd dnc_rows(const std::vector<const Embedding*>& rows, Rows form) {
  Eigen::MatrixXd matrix(static_cast<long>(rows.size()), rows.empty() ? 0 : static_cast<long>(rows.front()->size()));
  for (std::size_t r = 0; r < rows.size(); ++r) {
    for (std::size_t d = 0; d < rows[r]->size(); ++d) matrix(long(r), long(d)) = (*rows[r])[d];
    if (form == Rows::centred) matrix.row(long(r)).array() -= matrix.row(long(r)).mean();
  }
  return matrix;
}

double mean_of(const std::vector<double>& values) {
  double sum = 0.0;
  for (const double v : values) sum += v;
  return values.empty() ? std::nan("") : sum / static_cast<double>(values.size());
}

// The crops of one scene: per subject (nullopt = not detected) and, for the MuDI form,
// every detection (with masks: the detected subjects' crops).
struct SceneCrops {
  std::map<int, std::optional<std::string>> subject;
  std::vector<std::string> all;
  std::string source;  // "mask" | "detector" | "detections-file"
};

struct StoryKeys {
  std::map<int, std::string> portrait, portrait_crop, scene;
  std::map<int, SceneCrops> scene_crops;
  std::map<int, std::string> clip_text;  // scene -> text
  std::map<int, std::string> clip_text_source;
  std::set<int> aesthetic;  // scenes to score
};

std::string scene_text(const SceneFacts& facts, const std::string& wanted, std::string& source) {
  const bool scene_first = wanted != "generation";
  const std::string& first = scene_first ? facts.scene_prompt : facts.generation_prompt;
  const std::string& second = scene_first ? facts.generation_prompt : facts.scene_prompt;
  if (!first.empty()) {
    source = scene_first ? "scene" : "generation";
    return first;
  }
  source = scene_first ? "generation" : "scene";
  return second;
}

void check_clip_model(const std::string& model) {
  const std::string base = is_tiny(model) ? model.substr(5) : model;
  const auto known = metrics::clip_model_names();
  if (std::find(known.begin(), known.end(), base) != known.end()) return;
  std::string list;
  for (const auto& name : known) list += (list.empty() ? "" : ", ") + name;
  throw core::InputError(core::Location{"", 0, "evaluation.clip_model"},
                         "unknown CLIP model '" + model + "'; expected one of " + list + " (or tiny-<name>)");
}

// Whether CLIP-T can be scored with these options, and if not, why.
std::optional<std::string> clip_skip_reason(const Options& options) {
  if (options.clip_model.empty()) return std::string();
  if (options.clip_weights.empty() && !is_tiny(options.clip_model) && !options.allow_random_full_size) {
    return "clip_t not scored: no weights for CLIP model '" + options.clip_model +
           "' (evaluation.clip_weights / --clip-weights FILE)";
  }
  return std::nullopt;
}

void check_dino_model(const std::string& model) {
  const std::string base = is_tiny(model) ? model.substr(5) : model;
  const auto known = metrics::dinov2_model_names();
  if (std::find(known.begin(), known.end(), base) != known.end()) return;
  throw core::InputError(core::Location{"", 0, "evaluation.dino_model"},
                         "unknown DINOv2 model '" + model + "'; expected dinov2_vitb14 (or tiny-dinov2_vitb14)");
}

// Whether D&C-DINO can be scored, and if not, why ("" = not asked for).
std::optional<std::string> dino_skip_reason(const Options& options) {
  if (options.dino_model.empty()) return std::string();
  if (options.dino_weights.empty() && !is_tiny(options.dino_model) && !options.allow_random_full_size) {
    return "dnc_dino not scored: no weights for DINOv2 model '" + options.dino_model +
           "' (evaluation.dino_weights / --dino-weights FILE)";
  }
  return std::nullopt;
}

// Whether the aesthetic score can be scored, and if not, why ("" = not asked for).
std::optional<std::string> aesthetic_skip_reason(const Options& options) {
  if (!options.aesthetic) return std::string();
  if (options.clip_model.empty()) return "aesthetic not scored: it reads CLIP image embeddings and no clip_model is set";
  if (const auto clip = clip_skip_reason(options); clip) {
    return "aesthetic not scored: no weights for CLIP model '" + options.clip_model + "'";
  }
  if (options.aesthetic_weights.empty() && !is_tiny(options.clip_model) && !options.allow_random_full_size) {
    return "aesthetic not scored: no predictor weights (evaluation.aesthetic_weights / --aesthetic-weights FILE)";
  }
  return std::nullopt;
}

void check_aesthetic(const Options& options) {
  if (options.aesthetic && !options.aesthetic_weights.empty() && options.clip_model != "clip_vitl14") {
    throw core::InputError(core::Location{options.aesthetic_weights.string(), 0, "evaluation.aesthetic_weights"},
                           "the LAION aesthetic predictor reads CLIP ViT-L/14 image embeddings; clip_model is '" +
                               options.clip_model + "', expected clip_vitl14");
  }
}

}  // namespace

Options options_from_config(const nlohmann::json& resolved) {
  Options options;
  const auto section = [&](const char* name) {
    const auto found = resolved.find(name);
    return found != resolved.end() && found->is_object() ? *found : nlohmann::json::object();
  };
  const auto evaluation = section("evaluation");
  options.model = evaluation.value("model", options.model);
  options.weights_dir = evaluation.value("weights", std::string());
  options.batch_size = evaluation.value("batch_size", options.batch_size);
  options.bootstrap_resamples = evaluation.value("bootstrap_samples", options.bootstrap_resamples);
  options.bootstrap_seed = evaluation.value("seed", std::uint64_t{0});
  options.random_seed = options.bootstrap_seed;
  options.clip_model = evaluation.value("clip_model", std::string());
  options.clip_weights = evaluation.value("clip_weights", std::string());
  options.clip_text = evaluation.value("clip_text", options.clip_text);
  const auto detector = evaluation.value("detector", nlohmann::json::object());
  options.detector_command = detector.value("command", std::string());
  options.detector_threshold = detector.value("threshold", options.detector_threshold);
  options.detector_timeout_s = detector.value("timeout_s", options.detector_timeout_s);
  options.detect_masked_images = detector.value("scope", std::string("all")) == "all";
  options.aesthetic_weights = evaluation.value("aesthetic_weights", std::string());
  options.dino_model = evaluation.value("dino_model", std::string());
  options.dino_weights = evaluation.value("dino_weights", std::string());
  options.threads = section("model").value("threads", 0);
  // CLIP-T and the aesthetic score need a network of their own: a config that lists
  // neither does not pay for it.
  if (const auto listed = resolved.find("metrics"); listed != resolved.end() && listed->is_array()) {
    const auto lists = [&](const char* metric) { return std::find(listed->begin(), listed->end(), metric) != listed->end(); };
    options.aesthetic = lists("aesthetic");
    options.clip_text_metric = lists("clip_t");
    if (!lists("clip_t") && !options.aesthetic) options.clip_model.clear();
    if (!lists("dnc_dino")) options.dino_model.clear();
  }
  return options;
}

namespace {

// One evaluation of one run, in phases: find subject boxes (masks, then the detector),
// decide what to embed, embed it through the cache, score each story, summarise.
class RunScorer {
 public:
  RunScorer(store::Store& store, store::RunId run, const Options& options, Report& report)
      : store_(store), run_(run), options_(options), report_(report), info_(store.get_run(run)),
        reader_(info_.output_dir), stories_(group_artifacts(store.artifacts_of_run(run))),
        facts_(gather_facts(store, run, options.dataset_root)),
        embeddings_(store, dreamsim_cache_id(store, options), metrics::kDreamSimPreprocessingVersion, options.batch_size,
                    [this] { return dreamsim_embedder(); }),
        clip_images_(store, score_clip() ? clip_cache_id(store, options) : "", metrics::kClipPreprocessingVersion,
                     options.batch_size, [this] { return clip_image_embedder(); }),
        dino_crops_(store, score_dino() ? dino_cache_id(store, options) : "", metrics::kDinov2PreprocessingVersion,
                    options.batch_size, [this] { return dino_embedder(); }),
        keys_(stories_.size()) {}

  void run() {
    find_mask_boxes();
    find_detected_boxes();
    for (std::size_t i = 0; i < stories_.size(); ++i) plan_story(i);
    report_.images = embeddings_.size() + clip_images_.size() + dino_crops_.size();
    report_.embedded = embeddings_.compute() + clip_images_.compute() + dino_crops_.compute();
    embed_texts();
    for (std::size_t i = 0; i < stories_.size(); ++i) score_story(i);
    store_.put_metric_values(run_, values_);
    store_.replace_metric_summaries(run_, summaries());
    report_.values = values_.size();
  }

 private:
  using Key = std::pair<std::size_t, int>;  // (story, subject or scene)

  bool score_clip() const { return !clip_skip_reason(options_).has_value(); }
  bool score_clip_t() const { return score_clip() && options_.clip_text_metric; }
  bool score_aesthetic() const { return !aesthetic_skip_reason(options_).has_value(); }
  bool score_dino() const { return !dino_skip_reason(options_).has_value(); }
  static double distance(const Embedding& a, const Embedding& b) { return metrics::dreamsim_distance(a, b); }
  const core::Image& read(const store::ArtifactRow& row) { return reader_.read(row); }
  std::function<const core::Image&(const store::ArtifactRow&)> reader() {
    return [this](const store::ArtifactRow& row) -> const core::Image& { return read(row); };
  }

  const StoryFacts& facts_of(std::size_t i) const {
    static const StoryFacts none;
    const auto& story = stories_[i];
    const auto found = facts_.stories.find({story.system, story.story, story.seed});
    return found == facts_.stories.end() ? none : found->second;
  }

  Embeddings::Embed dreamsim_embedder() const {
    auto model = std::make_shared<metrics::DreamSim>(make_dreamsim(options_));
    return [model](const std::vector<core::Image>& images) { return model->embed_pixels(model->preprocess(images)); };
  }
  Embeddings::Embed dino_embedder() const {
    auto model = std::make_shared<metrics::Dinov2>(make_dinov2(options_));
    return [model](const std::vector<core::Image>& images) { return model->embed_pixels(model->preprocess(images)); };
  }
  const metrics::AestheticPredictor& aesthetic_predictor() {
    if (!aesthetic_) {
      aesthetic_ = std::make_unique<metrics::AestheticPredictor>(
          options_.aesthetic_weights.empty()
              ? metrics::AestheticPredictor::random(static_cast<int>(clip_images_.get_any().size()), options_.random_seed)
              : metrics::AestheticPredictor::load(options_.aesthetic_weights));
    }
    return *aesthetic_;
  }
  std::shared_ptr<metrics::Clip> clip_model() {  // built on the first miss; images and texts share it
    if (!clip_) clip_ = std::make_shared<metrics::Clip>(make_clip(options_));
    return clip_;
  }
  Embeddings::Embed clip_image_embedder() {
    auto model = clip_model();
    return [model](const std::vector<core::Image>& images) { return model->embed_images(model->preprocess(images)); };
  }

  void find_mask_boxes() {
    std::vector<store::ArtifactRow> masks;
    for (const auto& story : stories_) {
      for (const auto& [s, mask] : story.portrait_masks) masks.push_back(mask);
      for (const auto& [n, scene] : story.scenes)
        for (const auto& [s, mask] : scene.masks) masks.push_back(mask);
    }
    mask_boxes_ = mask_boxes(store_, masks, reader());
  }

  // Images whose subjects' class words are known go to the detector (or the detections
  // file), queried with those class words: every image, so that every system is scored
  // with the same boxes (D&C as published), or only those without stored masks
  // (Options::detect_masked_images false).
  void find_detected_boxes() {
    BoxFinder finder(store_, {options_.detector_command, options_.detector_threshold, options_.detector_timeout_s,
                              options_.detections_file});
    if (!finder.enabled()) return;
    struct Asked {
      Key key;
      bool portrait;
      std::vector<int> subjects;
    };
    std::vector<BoxRequest> requests;
    std::vector<Asked> asked;
    for (std::size_t i = 0; i < stories_.size(); ++i) {
      const auto& story = stories_[i];
      const auto& facts = facts_of(i);
      for (const auto& [s, portrait] : story.portraits) {
        if (!facts.keywords.count(s) || (story.portrait_masks.count(s) && !options_.detect_masked_images)) continue;
        requests.push_back({portrait, {facts.keywords.at(s)}});
        asked.push_back({{i, s}, true, {s}});
      }
      for (const auto& [n, scene] : story.scenes) {
        const auto scene_facts = facts.scenes.find(n);
        if (!scene.image || (!scene.masks.empty() && !options_.detect_masked_images) || scene_facts == facts.scenes.end() ||
            !scene_facts->second.subjects_known || scene_facts->second.subjects.empty()) {
          continue;
        }
        BoxRequest request{*scene.image, {}};
        for (const int s : scene_facts->second.subjects) {
          if (facts.keywords.count(s)) request.queries.push_back(facts.keywords.at(s));
        }
        if (request.queries.size() != scene_facts->second.subjects.size()) continue;  // a class word is unknown
        requests.push_back(std::move(request));
        asked.push_back({{i, n}, false, scene_facts->second.subjects});
      }
    }
    for (auto& [r, found] : finder.find(requests, info_.output_dir, reader())) {
      auto& target = asked[r].portrait ? detected_portraits_ : detected_scenes_;
      target[asked[r].key] = {std::move(found), asked[r].subjects};
    }
    report_.detected_images = detected_portraits_.size() + detected_scenes_.size();
  }

  std::string whole(const store::ArtifactRow& row) {
    embeddings_.add({row.sha256, [this, row] { return read(row); }});
    return row.sha256;
  }
  // A crop is embedded by DreamSim and, for D&C-DINO, by DINOv2 under the same key.
  void add_crop(Request request) {
    if (score_dino()) dino_crops_.add(request);
    embeddings_.add(std::move(request));
  }
  std::string crop_of_box(const store::ArtifactRow& row, const metrics::Box& box) {
    const std::string key = box_crop_key(row.sha256, box);
    add_crop({key, [this, row, box] { return metrics::white_padded_square_crop(read(row), box); }});
    return key;
  }
  std::optional<std::string> crop_of_mask(const store::ArtifactRow& row, const store::ArtifactRow& mask) {
    const auto box = mask_boxes_.at(mask.sha256);
    if (!box) return std::nullopt;
    const std::string key = mask_crop_key(row.sha256, mask.sha256);
    add_crop({key, [this, row, box] { return metrics::white_padded_square_crop(read(row), *box); }});
    return key;
  }

  // Registers every image and crop story i needs and records their keys.
  void plan_story(std::size_t i) {
    const auto& story = stories_[i];
    auto& keys = keys_[i];
    for (const auto& [s, portrait] : story.portraits) {
      keys.portrait[s] = whole(portrait);
      std::optional<std::string> cropped;
      if (const auto found = detected_portraits_.find({i, s}); found != detected_portraits_.end()) {
        if (const auto& box = found->second.found.boxes.per_subject.at(0)) cropped = crop_of_box(portrait, *box);
      } else if (const auto mask = story.portrait_masks.find(s); mask != story.portrait_masks.end()) {
        cropped = crop_of_mask(portrait, mask->second);
      }
      keys.portrait_crop[s] = cropped.value_or(keys.portrait[s]);
      if (!cropped && score_dino()) dino_crops_.add({portrait.sha256, [this, portrait] { return read(portrait); }});
    }
    for (const auto& [n, scene] : story.scenes) {
      if (!scene.image) continue;
      keys.scene[n] = whole(*scene.image);
      plan_clip_text(i, n, *scene.image);
      if (const auto found = detected_scenes_.find({i, n}); found != detected_scenes_.end()) {
        auto& crops = keys.scene_crops[n];
        const auto& [detected, subjects] = found->second;
        crops.source = detected.source;
        for (std::size_t k = 0; k < subjects.size(); ++k) {
          const auto& box = detected.boxes.per_subject.at(k);
          crops.subject[subjects[k]] = box ? std::optional<std::string>(crop_of_box(*scene.image, *box)) : std::nullopt;
        }
        for (const auto& box : detected.boxes.all) crops.all.push_back(crop_of_box(*scene.image, box));
      } else if (!scene.masks.empty()) {
        auto& crops = keys.scene_crops[n];
        crops.source = "mask";
        for (const auto& [s, mask] : scene.masks) {
          crops.subject[s] = crop_of_mask(*scene.image, mask);
          if (crops.subject[s]) crops.all.push_back(*crops.subject[s]);
        }
      }
    }
  }

  void plan_clip_text(std::size_t i, int n, const store::ArtifactRow& image) {
    if (score_aesthetic()) {
      clip_images_.add({image.sha256, [this, image] { return read(image); }});
      keys_[i].aesthetic.insert(n);
    }
    if (!score_clip_t()) return;
    const auto& facts = facts_of(i);
    const auto scene_facts = facts.scenes.find(n);
    if (scene_facts == facts.scenes.end()) return;
    std::string source;
    const std::string text = scene_text(scene_facts->second, options_.clip_text, source);
    if (text.empty()) return;
    keys_[i].clip_text[n] = text;
    keys_[i].clip_text_source[n] = source;
    clip_images_.add({image.sha256, [this, image] { return read(image); }});
  }

  // CLIP text embeddings, through the same cache (keyed by the text's hash).
  void embed_texts() {
    std::vector<std::string> texts, keys;
    for (const auto& story_keys : keys_) {
      for (const auto& [n, text] : story_keys.clip_text) {
        if (text_embeddings_.emplace(text, Embedding{}).second) {
          texts.push_back(text);
          keys.push_back(text_key(text));
        }
      }
    }
    if (texts.empty()) return;
    const std::string model_id = clip_cache_id(store_, options_), version = "clip-text-77-v1";
    const auto cached = store_.get_embeddings(keys, model_id, version);
    std::vector<std::string> missing;
    for (std::size_t t = 0; t < texts.size(); ++t) {
      if (cached[t]) text_embeddings_[texts[t]] = *cached[t];
      else missing.push_back(texts[t]);
    }
    const std::size_t batch = static_cast<std::size_t>(std::max(options_.batch_size, 1));
    for (std::size_t start = 0; start < missing.size(); start += batch) {
      const std::vector<std::string> part(missing.begin() + long(start),
                                          missing.begin() + long(std::min(missing.size(), start + batch)));
      const auto embedded = clip_model()->embed_texts(part).contiguous();
      std::vector<store::Embedding> rows;
      for (std::size_t t = 0; t < part.size(); ++t) {
        const float* data = embedded[long(t)].data_ptr<float>();
        text_embeddings_[part[t]] = Embedding(data, data + embedded.size(1));
        rows.push_back({text_key(part[t]), text_embeddings_[part[t]]});
      }
      store_.put_embeddings(rows, model_id, version);
    }
    report_.images += texts.size();
    report_.embedded += missing.size();
  }

  // The subjects a scene is scored for: those with crops, else the scene's own subjects,
  // else (nothing known) every portrait of the story.
  std::vector<int> scene_subjects(std::size_t i, int n, const SceneCrops* crops) const {
    const auto& keys = keys_[i];
    std::vector<int> subjects;
    if (crops) {
      for (const auto& [s, key] : crops->subject) if (keys.portrait.count(s)) subjects.push_back(s);
      return subjects;
    }
    const auto& facts = facts_of(i);
    if (const auto found = facts.scenes.find(n); found != facts.scenes.end() && found->second.subjects_known) {
      for (const int s : found->second.subjects) if (keys.portrait.count(s)) subjects.push_back(s);
      return subjects;
    }
    for (const auto& [s, key] : keys.portrait) subjects.push_back(s);
    return subjects;
  }

  struct StoryScoring {
    std::map<std::string, std::vector<double>> per_scene;      // metric -> values over scenes
    std::map<int, std::vector<std::string>> crops_of_subject;  // across the story
  };

  void put(std::size_t i, int scene, const std::string& metric, double value, nlohmann::json extra,
           StoryScoring& scoring) {
    const auto& story = stories_[i];
    values_.push_back({story.system, story.story, scene, story.seed, metric, value, std::move(extra)});
    if (scene >= 0) scoring.per_scene[metric].push_back(value);
  }

  void score_scene(std::size_t i, int n, const std::string& scene_key, StoryScoring& scoring) {
    const auto& keys = keys_[i];
    if (const auto text = keys.clip_text.find(n); text != keys.clip_text.end()) {
      const double score = metrics::clip_score(clip_images_.get(stories_[i].scenes.at(n).image->sha256),
                                               text_embeddings_.at(text->second));
      put(i, n, "clip_t", score, {{"text", text->second}, {"text_source", keys.clip_text_source.at(n)}}, scoring);
      ++report_.clip_scored;
    }
    if (keys.aesthetic.count(n)) {
      const auto& embedding = clip_images_.get(stories_[i].scenes.at(n).image->sha256);
      const auto row = torch::from_blob(const_cast<float*>(embedding.data()), {1, long(embedding.size())}, torch::kFloat32);
      put(i, n, "aesthetic", aesthetic_predictor().score(row)[0].item<double>(),
          {{"model", aesthetic_predictor().model_id()}}, scoring);
      ++report_.aesthetic_scored;
    }
    const auto crops_found = keys.scene_crops.find(n);
    const SceneCrops* crops = crops_found == keys.scene_crops.end() ? nullptr : &crops_found->second;
    const auto subjects = scene_subjects(i, n, crops);
    std::vector<double> whole_distances;
    nlohmann::json whole_extra = nlohmann::json::object();
    for (const int s : subjects) {
      const double d = distance(embeddings_.get(scene_key), embeddings_.get(keys.portrait.at(s)));
      whole_distances.push_back(d);
      whole_extra[std::to_string(s)] = d;
    }
    if (!subjects.empty()) put(i, n, "dreamsim_scene_portrait", mean_of(whole_distances), whole_extra, scoring);
    if (crops && !subjects.empty()) score_crops(i, n, *crops, subjects, scoring);
  }

  void score_crops(std::size_t i, int n, const SceneCrops& crops, const std::vector<int>& subjects,
                   StoryScoring& scoring) {
    const auto& keys = keys_[i];
    std::vector<double> detected_distances, strict_distances;
    std::vector<Eigen::MatrixXd> references, dino_references;
    nlohmann::json subject_extra = nlohmann::json::object();
    for (const int s : subjects) {
      const auto& portrait_crop = embeddings_.get(keys.portrait_crop.at(s));
      references.push_back(dnc_rows({&portrait_crop}, Rows::centred));
      if (score_dino()) {
        dino_references.push_back(dnc_rows({&dino_crops_.get(keys.portrait_crop.at(s))}, Rows::raw));
      }
      const auto& scene_crop = crops.subject.at(s);
      if (!scene_crop) {
        strict_distances.push_back(1.0);
        subject_extra[std::to_string(s)] = nullptr;
        continue;
      }
      scoring.crops_of_subject[s].push_back(*scene_crop);
      const double d = distance(embeddings_.get(*scene_crop), portrait_crop);
      detected_distances.push_back(d);
      strict_distances.push_back(d);
      subject_extra[std::to_string(s)] = d;
    }
    std::vector<const Embedding*> detections;
    for (const auto& key : crops.all) detections.push_back(&embeddings_.get(key));
    put(i, n, "detection_rate", double(detected_distances.size()) / double(subjects.size()),
        {{"boxes", crops.source}}, scoring);
    put(i, n, "dnc_ds_subject_strict", mean_of(strict_distances), subject_extra, scoring);
    if (!detected_distances.empty()) put(i, n, "dnc_ds_subject", mean_of(detected_distances), subject_extra, scoring);
    const bool counted = detections.size() == subjects.size();  // MuDI: a missing or extra detection scores 0
    const double dnc = counted ? metrics::dnc_score(dnc_rows(detections, Rows::centred), references) : 0.0;
    put(i, n, "dnc_ds", dnc, {{"boxes", crops.source}, {"detections", detections.size()}}, scoring);
    if (score_dino()) {
      std::vector<const Embedding*> dino_detections;
      for (const auto& key : crops.all) dino_detections.push_back(&dino_crops_.get(key));
      // MuDI's D&C-DINO compares raw DINOv2 features by cosine (no centring).
      const double dino = counted ? metrics::dnc_score(dnc_rows(dino_detections, Rows::raw), dino_references) : 0.0;
      put(i, n, "dnc_dino", dino, {{"boxes", crops.source}, {"detections", dino_detections.size()}}, scoring);
      ++report_.dino_scored;
    }
  }

  void score_story(std::size_t i) {
    StoryScoring scoring;
    for (const auto& [n, scene_key] : keys_[i].scene) score_scene(i, n, scene_key, scoring);
    std::vector<double> consistency;
    nlohmann::json consistency_extra = nlohmann::json::object();
    for (const auto& [s, crops] : scoring.crops_of_subject) {
      std::vector<double> pairs;
      for (std::size_t a = 0; a < crops.size(); ++a)
        for (std::size_t b = a + 1; b < crops.size(); ++b)
          pairs.push_back(distance(embeddings_.get(crops[a]), embeddings_.get(crops[b])));
      if (pairs.empty()) continue;
      consistency.push_back(mean_of(pairs));
      consistency_extra[std::to_string(s)] = consistency.back();
    }
    std::map<std::string, double> story_values;
    for (const auto& [metric, scene_values] : scoring.per_scene) story_values[metric] = mean_of(scene_values);
    if (!consistency.empty()) story_values["scene_consistency"] = mean_of(consistency);
    const auto& story = stories_[i];
    const auto& categories = options_.story_categories.empty() ? facts_.categories : options_.story_categories;
    for (const auto& [metric, value] : story_values) {
      values_.push_back({story.system, story.story, -1, story.seed, metric, value,
                         metric == "scene_consistency" ? consistency_extra : nlohmann::json::object()});
      std::map<std::string, std::string> group{{"system", story.system},
                                               {"subjects", std::to_string(story.portraits.size())}};
      if (const auto category = categories.find(story.story); category != categories.end()) {
        group["category"] = category->second;
      }
      observations_.push_back({group, metric, value});
    }
  }

  std::vector<store::MetricSummary> summaries() {
    const metrics::BootstrapOptions bootstrap{options_.bootstrap_resamples, options_.bootstrap_seed};
    std::vector<store::MetricSummary> summaries;
    for (const auto& [group_by, kind] : std::vector<std::pair<std::vector<std::string>, std::string>>{
             {{"system"}, "all"}, {{"system", "category"}, "category"}, {{"system", "subjects"}, "subjects"}}) {
      for (const auto& row : metrics::summarize_groups(observations_, group_by, bootstrap)) {
        const std::string value = kind == "all" ? "" : row.group.at(group_by[1]);
        if (kind == "category" && value.empty()) continue;  // stories without a known category
        summaries.push_back({row.group.at("system"), row.metric, kind, value,
                             static_cast<std::int64_t>(row.n), row.mean, row.std, row.ci_low, row.ci_high});
      }
    }
    report_.summaries = summaries.size();
    return summaries;
  }

  struct Detected {
    DetectedBoxes found;
    std::vector<int> subjects;  // the subjects the queries stood for
  };

  store::Store& store_;
  store::RunId run_;
  const Options& options_;
  Report& report_;
  store::RunInfo info_;
  ImageReader reader_;
  std::vector<StoryArtifacts> stories_;
  RunFacts facts_;
  std::map<std::string, std::optional<metrics::Box>> mask_boxes_;
  std::map<Key, Detected> detected_portraits_, detected_scenes_;
  Embeddings embeddings_, clip_images_, dino_crops_;
  std::shared_ptr<metrics::Clip> clip_;
  std::unique_ptr<metrics::AestheticPredictor> aesthetic_;
  std::vector<StoryKeys> keys_;
  std::map<std::string, Embedding> text_embeddings_;
  std::vector<store::MetricValue> values_;
  std::vector<metrics::Observation> observations_;
};

}  // namespace

Report evaluate_run(store::Store& store, store::RunId run, const Options& options) {
  const auto started = std::chrono::steady_clock::now();
  store.get_run(run);                          // unknown run: InputError before any work
  metrics::dreamsim_backbones(options.model);  // unknown model: likewise
  if (!options.clip_model.empty()) check_clip_model(options.clip_model);
  if (!options.dino_model.empty()) check_dino_model(options.dino_model);
  check_aesthetic(options);
  if (options.clip_text != "scene" && options.clip_text != "generation") {
    throw core::InputError(core::Location{"", 0, "evaluation.clip_text"},
                           "expected scene or generation, got '" + options.clip_text + "'");
  }
  if (options.threads > 0) torch::set_num_threads(options.threads);
  Report report;
  if (const auto skip = clip_skip_reason(options); skip && !skip->empty() && options.clip_text_metric) {
    report.notes.push_back(*skip);
  }
  if (const auto skip = aesthetic_skip_reason(options); skip && !skip->empty()) report.notes.push_back(*skip);
  if (const auto skip = dino_skip_reason(options); skip && !skip->empty()) report.notes.push_back(*skip);
  RunScorer(store, run, options, report).run();
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return report;
}

double dreamsim_images_per_second(const std::string& model, int threads, int batch, int iterations) {
  if (threads < 1 || batch < 1 || iterations < 1) {
    throw core::InputError(core::Location{"", 0, "--threads/--batch/--iterations"}, "each must be at least 1");
  }
  torch::set_num_threads(threads);
  const auto dreamsim = metrics::DreamSim::random(model, 0);
  const auto pixels = torch::rand({batch, 3, 224, 224});
  dreamsim.embed_pixels(pixels);  // warm-up
  const auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < iterations; ++i) dreamsim.embed_pixels(pixels);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return batch * iterations / seconds;
}

}  // namespace dsbench::evaluation
