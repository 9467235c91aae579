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
#include "harness/evaluation/boxes.h"
#include "harness/evaluation/facts.h"
#include "metrics/clip.h"
#include "metrics/crops.h"
#include "metrics/distance.h"
#include "metrics/dnc.h"
#include "metrics/dreamsim.h"
#include "metrics/grouping.h"

namespace dsbench::evaluation {
namespace {

namespace fs = std::filesystem;
using Embedding = std::vector<float>;

struct SceneArtifacts {
  std::optional<store::ArtifactRow> image;
  std::map<int, store::ArtifactRow> masks;  // subject -> target mask
};

struct StoryArtifacts {
  std::string system, story;
  std::uint64_t seed = 0;
  std::map<int, store::ArtifactRow> portraits, portrait_masks;
  std::map<int, SceneArtifacts> scenes;
};

std::optional<int> subject_of_mask_name(const std::string& name) {
  const auto underscore = name.find_last_of('_');
  if (underscore == std::string::npos) return std::nullopt;
  try {
    return std::stoi(name.substr(underscore + 1));
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::vector<StoryArtifacts> group_artifacts(const std::vector<store::ArtifactRow>& rows) {
  std::map<std::tuple<std::string, std::string, std::uint64_t>, StoryArtifacts> stories;
  for (const auto& row : rows) {
    auto& story = stories[{row.key.system, row.key.story, row.key.seed}];
    story.system = row.key.system;
    story.story = row.key.story;
    story.seed = row.key.seed;
    const bool image = row.name == "image";
    if (row.key.kind == "portrait") {
      if (image) story.portraits[row.key.index] = row;
      else if (row.kind == "mask") story.portrait_masks[row.key.index] = row;
    } else if (row.key.kind == "scene") {
      auto& scene = story.scenes[row.key.index];
      if (image) scene.image = row;
      else if (row.kind == "mask") {
        if (const auto subject = subject_of_mask_name(row.name)) scene.masks[*subject] = row;
      }
    }
  }
  std::vector<StoryArtifacts> result;
  for (auto& [key, story] : stories) result.push_back(std::move(story));
  return result;
}

// Decodes each file at most once per evaluation.
class ImageReader {
 public:
  explicit ImageReader(fs::path root) : root_(std::move(root)) {}
  const core::Image& read(const store::ArtifactRow& row) {
    auto found = images_.find(row.path);
    if (found == images_.end()) found = images_.emplace(row.path, core::read_image(root_ / row.path)).first;
    return found->second;
  }

 private:
  fs::path root_;
  std::map<std::string, core::Image> images_;
};

// An image or crop to embed: its cache key and how to make its pixels when needed.
struct Request {
  std::string key;
  std::function<core::Image()> pixels;
};

// Weights of another conversion must not share cache rows: the files' sizes are cheap to
// read and tell conversions apart in practice.
std::string weights_tag(const std::vector<fs::path>& files) {
  std::string tag;
  for (const auto& file : files) {
    std::error_code ignored;
    tag += ":" + std::to_string(fs::file_size(file, ignored));
  }
  return tag;
}

std::string dreamsim_cache_id(const Options& options) {
  if (options.weights_dir.empty()) {
    return "dreamsim-" + options.model + "-random-seed" + std::to_string(options.random_seed);
  }
  std::vector<fs::path> files;
  for (const auto& spec : metrics::dreamsim_backbones(options.model)) {
    files.push_back(options.weights_dir / (spec.name + ".safetensors"));
  }
  return "dreamsim-" + options.model + weights_tag(files);
}

std::string clip_cache_id(const Options& options) {
  if (options.clip_weights.empty()) {
    return "clip-" + options.clip_model + "-random-seed" + std::to_string(options.random_seed);
  }
  return "clip-" + options.clip_model + weights_tag({options.clip_weights});
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

metrics::Clip make_clip(const Options& options) {
  if (options.clip_weights.empty()) return metrics::Clip::random(options.clip_model, options.random_seed);
  return metrics::Clip::load(options.clip_model, options.clip_weights);
}

// Embeddings of one model through the store's cache: requests are collected first, then
// the misses are embedded in batches (the network is built only if there is a miss).
class Embeddings {
 public:
  using Embed = std::function<torch::Tensor(const std::vector<core::Image>&)>;
  Embeddings(store::Store& store, std::string model_id, std::string version, int batch_size,
             std::function<Embed()> make_model)
      : store_(store), model_id_(std::move(model_id)), version_(std::move(version)),
        batch_size_(static_cast<std::size_t>(std::max(batch_size, 1))), make_model_(std::move(make_model)) {}

  void add(Request request) {
    if (known_.insert(request.key).second) requests_.push_back(std::move(request));
  }

  // Looks everything up in the cache, embeds the rest, stores them. Returns how many
  // were embedded now.
  std::size_t compute() {
    std::vector<std::string> keys;
    for (const auto& request : requests_) keys.push_back(request.key);
    const auto cached = store_.get_embeddings(keys, model_id_, version_);
    std::vector<const Request*> missing;
    for (std::size_t i = 0; i < keys.size(); ++i) {
      if (cached[i]) values_[keys[i]] = *cached[i];
      else missing.push_back(&requests_[i]);
    }
    if (missing.empty()) return 0;
    const Embed embed = make_model_();
    for (std::size_t start = 0; start < missing.size(); start += batch_size_) {
      const auto end = std::min(missing.size(), start + batch_size_);
      std::vector<core::Image> images;
      for (std::size_t i = start; i < end; ++i) images.push_back(missing[i]->pixels());
      const auto embedded = embed(images).contiguous();
      std::vector<store::Embedding> rows;
      for (std::size_t i = start; i < end; ++i) {
        const float* data = embedded[static_cast<long>(i - start)].data_ptr<float>();
        Embedding values(data, data + embedded.size(1));
        values_[missing[i]->key] = values;
        rows.push_back({missing[i]->key, std::move(values)});
      }
      store_.put_embeddings(rows, model_id_, version_);
    }
    return missing.size();
  }

  std::size_t size() const { return requests_.size(); }
  const Embedding& get(const std::string& key) const { return values_.at(key); }

 private:
  store::Store& store_;
  std::string model_id_, version_;
  std::size_t batch_size_;
  std::function<Embed()> make_model_;
  std::set<std::string> known_;
  std::vector<Request> requests_;
  std::map<std::string, Embedding> values_;
};

std::string mask_crop_key(const std::string& image_sha, const std::string& mask_sha) {
  return core::sha256_hex("white-square-crop-v1:" + image_sha + ":" + mask_sha);
}

std::string box_crop_key(const std::string& image_sha, const metrics::Box& box) {
  return core::sha256_hex("white-square-crop-v1:" + image_sha + ":box:" + std::to_string(box.x0) + "," +
                          std::to_string(box.y0) + "," + std::to_string(box.x1) + "," + std::to_string(box.y1));
}

std::string text_key(const std::string& text) { return core::sha256_hex("clip-text-v1:" + text); }

double distance(const Embedding& a, const Embedding& b) { return metrics::dreamsim_distance(a, b); }

Eigen::MatrixXd centred_rows(const std::vector<const Embedding*>& rows) {
  Eigen::MatrixXd matrix(static_cast<long>(rows.size()), rows.empty() ? 0 : static_cast<long>(rows.front()->size()));
  for (std::size_t r = 0; r < rows.size(); ++r) {
    for (std::size_t d = 0; d < rows[r]->size(); ++d) matrix(long(r), long(d)) = (*rows[r])[d];
    matrix.row(long(r)).array() -= matrix.row(long(r)).mean();
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
  options.threads = section("model").value("threads", 0);
  // CLIP-T is the one metric with a network of its own: a config that does not list it
  // does not pay for it.
  if (const auto listed = resolved.find("metrics"); listed != resolved.end() && listed->is_array()) {
    if (std::find(listed->begin(), listed->end(), "clip_t") == listed->end()) options.clip_model.clear();
  }
  return options;
}

Report evaluate_run(store::Store& store, store::RunId run, const Options& options) {
  const auto started = std::chrono::steady_clock::now();
  const auto info = store.get_run(run);
  metrics::dreamsim_backbones(options.model);  // unknown model: InputError before any work
  if (!options.clip_model.empty()) check_clip_model(options.clip_model);
  const auto clip_skip = clip_skip_reason(options);
  const bool score_clip = !clip_skip.has_value();
  if (options.clip_text != "scene" && options.clip_text != "generation") {
    throw core::InputError(core::Location{"", 0, "evaluation.clip_text"},
                           "expected scene or generation, got '" + options.clip_text + "'");
  }
  if (options.threads > 0) torch::set_num_threads(options.threads);
  Report report;
  if (clip_skip && !clip_skip->empty()) report.notes.push_back(*clip_skip);

  const auto stories = group_artifacts(store.artifacts_of_run(run));
  const auto facts = gather_facts(store, run, options.dataset_root);
  ImageReader reader(info.output_dir);
  const auto read = [&reader](const store::ArtifactRow& row) -> const core::Image& { return reader.read(row); };
  const StoryFacts no_facts;
  const auto facts_of = [&](const StoryArtifacts& story) -> const StoryFacts& {
    const auto found = facts.stories.find({story.system, story.story, story.seed});
    return found == facts.stories.end() ? no_facts : found->second;
  };

  std::vector<store::ArtifactRow> masks;
  for (const auto& story : stories) {
    for (const auto& [s, mask] : story.portrait_masks) masks.push_back(mask);
    for (const auto& [n, scene] : story.scenes)
      for (const auto& [s, mask] : scene.masks) masks.push_back(mask);
  }
  const auto boxes = mask_boxes(store, masks, read);

  // Images without masks whose subjects are known go to the detector (or the file).
  BoxFinder finder(store, {options.detector_command, options.detector_threshold, options.detector_timeout_s,
                           options.detections_file});
  struct Asked {
    std::size_t story;
    int index;
    bool portrait;
    std::vector<int> subjects;
  };
  std::vector<BoxRequest> box_requests;
  std::vector<Asked> asked;
  if (finder.enabled()) {
    for (std::size_t i = 0; i < stories.size(); ++i) {
      const auto& story = stories[i];
      const auto& story_facts = facts_of(story);
      for (const auto& [s, portrait] : story.portraits) {
        if (story.portrait_masks.count(s) || !story_facts.keywords.count(s)) continue;
        box_requests.push_back({portrait, {story_facts.keywords.at(s)}});
        asked.push_back({i, s, true, {s}});
      }
      for (const auto& [n, scene] : story.scenes) {
        const auto scene_facts = story_facts.scenes.find(n);
        if (!scene.image || !scene.masks.empty() || scene_facts == story_facts.scenes.end() ||
            !scene_facts->second.subjects_known || scene_facts->second.subjects.empty()) {
          continue;
        }
        BoxRequest request{*scene.image, {}};
        bool all_known = true;
        for (const int s : scene_facts->second.subjects) {
          if (!story_facts.keywords.count(s)) all_known = false;
          else request.queries.push_back(story_facts.keywords.at(s));
        }
        if (!all_known) continue;
        box_requests.push_back(std::move(request));
        asked.push_back({i, n, false, scene_facts->second.subjects});
      }
    }
  }
  const auto detected = finder.find(box_requests, info.output_dir, read);
  report.detected_images = detected.size();
  std::map<std::pair<std::size_t, int>, const DetectedBoxes*> detected_portrait, detected_scene;
  std::map<std::pair<std::size_t, int>, const Asked*> asked_scene;
  for (const auto& [r, found] : detected) {
    const auto& a = asked[r];
    (a.portrait ? detected_portrait : detected_scene)[{a.story, a.index}] = &found;
    if (!a.portrait) asked_scene[{a.story, a.index}] = &a;
  }

  Embeddings embeddings(store, dreamsim_cache_id(options), metrics::kDreamSimPreprocessingVersion,
                        options.batch_size, [&options]() -> Embeddings::Embed {
                          auto model = std::make_shared<metrics::DreamSim>(make_dreamsim(options));
                          return [model](const std::vector<core::Image>& images) {
                            return model->embed_pixels(model->preprocess(images));
                          };
                        });
  std::shared_ptr<metrics::Clip> clip;  // built on the first miss, shared by images and texts
  const auto clip_model = [&options, &clip]() {
    if (!clip) clip = std::make_shared<metrics::Clip>(make_clip(options));
    return clip;
  };
  Embeddings clip_images(store, score_clip ? clip_cache_id(options) : "", metrics::kClipPreprocessingVersion,
                         options.batch_size, [&clip_model]() -> Embeddings::Embed {
                           auto model = clip_model();
                           return [model](const std::vector<core::Image>& images) {
                             return model->embed_images(model->preprocess(images));
                           };
                         });

  const auto whole = [&](const store::ArtifactRow& row) {
    embeddings.add({row.sha256, [&reader, row] { return reader.read(row); }});
    return row.sha256;
  };
  const auto crop_of_box = [&](const store::ArtifactRow& row, const metrics::Box& box) {
    const std::string key = box_crop_key(row.sha256, box);
    embeddings.add({key, [&reader, row, box] { return metrics::white_padded_square_crop(reader.read(row), box); }});
    return key;
  };
  const auto crop_of_mask = [&](const store::ArtifactRow& row,
                                const store::ArtifactRow& mask) -> std::optional<std::string> {
    const auto box = boxes.at(mask.sha256);
    if (!box) return std::nullopt;
    const std::string key = mask_crop_key(row.sha256, mask.sha256);
    embeddings.add({key, [&reader, row, box] { return metrics::white_padded_square_crop(reader.read(row), *box); }});
    return key;
  };

  std::vector<StoryKeys> keys(stories.size());
  for (std::size_t i = 0; i < stories.size(); ++i) {
    const auto& story = stories[i];
    const auto& story_facts = facts_of(story);
    for (const auto& [s, portrait] : story.portraits) {
      keys[i].portrait[s] = whole(portrait);
      std::optional<std::string> cropped;
      if (const auto mask = story.portrait_masks.find(s); mask != story.portrait_masks.end()) {
        cropped = crop_of_mask(portrait, mask->second);
      } else if (const auto found = detected_portrait.find({i, s}); found != detected_portrait.end()) {
        const auto& box = found->second->boxes.per_subject.at(0);
        if (box) cropped = crop_of_box(portrait, *box);
      }
      keys[i].portrait_crop[s] = cropped.value_or(keys[i].portrait[s]);
    }
    for (const auto& [n, scene] : story.scenes) {
      if (!scene.image) continue;
      keys[i].scene[n] = whole(*scene.image);
      if (score_clip) {
        if (const auto scene_facts = story_facts.scenes.find(n); scene_facts != story_facts.scenes.end()) {
          std::string source;
          const std::string text = scene_text(scene_facts->second, options.clip_text, source);
          if (!text.empty()) {
            keys[i].clip_text[n] = text;
            keys[i].clip_text_source[n] = source;
            clip_images.add({scene.image->sha256, [&reader, row = *scene.image] { return reader.read(row); }});
          }
        }
      }
      if (!scene.masks.empty()) {
        auto& crops = keys[i].scene_crops[n];
        crops.source = "mask";
        for (const auto& [s, mask] : scene.masks) {
          crops.subject[s] = crop_of_mask(*scene.image, mask);
          if (crops.subject[s]) crops.all.push_back(*crops.subject[s]);
        }
      } else if (const auto found = detected_scene.find({i, n}); found != detected_scene.end()) {
        auto& crops = keys[i].scene_crops[n];
        crops.source = found->second->source;
        const auto& subjects = asked_scene.at({i, n})->subjects;
        for (std::size_t k = 0; k < subjects.size(); ++k) {
          const auto& box = found->second->boxes.per_subject.at(k);
          crops.subject[subjects[k]] = box ? std::optional<std::string>(crop_of_box(*scene.image, *box)) : std::nullopt;
        }
        for (const auto& box : found->second->boxes.all) crops.all.push_back(crop_of_box(*scene.image, box));
      }
    }
  }
  report.images = embeddings.size() + clip_images.size();
  report.embedded = embeddings.compute() + clip_images.compute();

  // CLIP text embeddings, through the same cache (keyed by the text's hash).
  std::map<std::string, Embedding> text_embeddings;
  if (score_clip) {
    std::vector<std::string> texts, text_keys;
    std::set<std::string> seen;
    for (const auto& story_keys : keys) {
      for (const auto& [n, text] : story_keys.clip_text) {
        if (seen.insert(text).second) {
          texts.push_back(text);
          text_keys.push_back(text_key(text));
        }
      }
    }
    const std::string text_version = "clip-text-77-v1";
    const auto cached = store.get_embeddings(text_keys, clip_cache_id(options), text_version);
    std::vector<std::string> missing;
    for (std::size_t t = 0; t < texts.size(); ++t) {
      if (cached[t]) text_embeddings[texts[t]] = *cached[t];
      else missing.push_back(texts[t]);
    }
    const std::size_t batch = static_cast<std::size_t>(std::max(options.batch_size, 1));
    for (std::size_t start = 0; start < missing.size(); start += batch) {
      const std::vector<std::string> part(missing.begin() + long(start),
                                          missing.begin() + long(std::min(missing.size(), start + batch)));
      const auto embedded = clip_model()->embed_texts(part).contiguous();
      std::vector<store::Embedding> rows;
      for (std::size_t t = 0; t < part.size(); ++t) {
        const float* data = embedded[long(t)].data_ptr<float>();
        text_embeddings[part[t]] = Embedding(data, data + embedded.size(1));
        rows.push_back({text_key(part[t]), text_embeddings[part[t]]});
      }
      store.put_embeddings(rows, clip_cache_id(options), text_version);
    }
    report.images += texts.size();
    report.embedded += missing.size();
  }

  const auto categories = options.story_categories.empty() ? facts.categories : options.story_categories;
  std::vector<store::MetricValue> values;
  std::vector<metrics::Observation> observations;
  for (std::size_t i = 0; i < stories.size(); ++i) {
    const auto& story = stories[i];
    const auto& story_facts = facts_of(story);
    const auto& k = keys[i];
    std::map<std::string, std::vector<double>> per_scene;  // metric -> values over scenes
    const auto put = [&](int scene, const std::string& metric, double value, nlohmann::json extra) {
      values.push_back({story.system, story.story, scene, story.seed, metric, value, std::move(extra)});
      if (scene >= 0) per_scene[metric].push_back(value);
    };
    std::map<int, std::vector<std::string>> crops_of_subject;  // across the story
    for (const auto& [n, scene_key] : k.scene) {
      if (const auto text = k.clip_text.find(n); text != k.clip_text.end()) {
        const double score = metrics::clip_score(clip_images.get(story.scenes.at(n).image->sha256),
                                                 text_embeddings.at(text->second));
        put(n, "clip_t", score, {{"text", text->second}, {"text_source", k.clip_text_source.at(n)}});
        ++report.clip_scored;
      }
      const auto& scene_embedding = embeddings.get(scene_key);
      const auto crops_found = k.scene_crops.find(n);
      const SceneCrops* crops = crops_found == k.scene_crops.end() ? nullptr : &crops_found->second;
      std::vector<int> subjects;
      if (crops) {
        for (const auto& [s, key] : crops->subject) if (k.portrait.count(s)) subjects.push_back(s);
      } else if (const auto scene_facts = story_facts.scenes.find(n);
                 scene_facts != story_facts.scenes.end() && scene_facts->second.subjects_known) {
        for (const int s : scene_facts->second.subjects) if (k.portrait.count(s)) subjects.push_back(s);
      } else {
        for (const auto& [s, key] : k.portrait) subjects.push_back(s);
      }
      std::vector<double> whole_distances;
      nlohmann::json whole_extra = nlohmann::json::object();
      for (const int s : subjects) {
        const double d = distance(scene_embedding, embeddings.get(k.portrait.at(s)));
        whole_distances.push_back(d);
        whole_extra[std::to_string(s)] = d;
      }
      if (!subjects.empty()) put(n, "dreamsim_scene_portrait", mean_of(whole_distances), whole_extra);
      if (!crops || subjects.empty()) continue;

      std::vector<double> detected_distances, strict_distances;
      std::vector<Eigen::MatrixXd> references;
      nlohmann::json subject_extra = nlohmann::json::object();
      std::size_t detected = 0;
      for (const int s : subjects) {
        const auto& portrait_crop = embeddings.get(k.portrait_crop.at(s));
        references.push_back(centred_rows({&portrait_crop}));
        const auto& scene_crop = crops->subject.at(s);
        if (!scene_crop) {
          strict_distances.push_back(1.0);
          subject_extra[std::to_string(s)] = nullptr;
          continue;
        }
        ++detected;
        const auto& crop_embedding = embeddings.get(*scene_crop);
        crops_of_subject[s].push_back(*scene_crop);
        const double d = distance(crop_embedding, portrait_crop);
        detected_distances.push_back(d);
        strict_distances.push_back(d);
        subject_extra[std::to_string(s)] = d;
      }
      std::vector<const Embedding*> detections;
      for (const auto& key : crops->all) detections.push_back(&embeddings.get(key));
      const nlohmann::json source{{"boxes", crops->source}};
      put(n, "detection_rate", double(detected) / double(subjects.size()), source);
      put(n, "dnc_ds_subject_strict", mean_of(strict_distances), subject_extra);
      if (!detected_distances.empty()) put(n, "dnc_ds_subject", mean_of(detected_distances), subject_extra);
      const double dnc = detections.size() == subjects.size()
                             ? metrics::dnc_score(centred_rows(detections), references)
                             : 0.0;  // MuDI: a missing or extra detection scores 0
      put(n, "dnc_ds", dnc, {{"boxes", crops->source}, {"detections", detections.size()}});
    }
    std::vector<double> consistency;
    nlohmann::json consistency_extra = nlohmann::json::object();
    for (const auto& [s, crops] : crops_of_subject) {
      std::vector<double> pairs;
      for (std::size_t a = 0; a < crops.size(); ++a)
        for (std::size_t b = a + 1; b < crops.size(); ++b)
          pairs.push_back(distance(embeddings.get(crops[a]), embeddings.get(crops[b])));
      if (pairs.empty()) continue;
      consistency.push_back(mean_of(pairs));
      consistency_extra[std::to_string(s)] = consistency.back();
    }
    std::map<std::string, double> story_values;
    for (const auto& [metric, scene_values] : per_scene) {
      story_values[metric] = mean_of(scene_values);
    }
    if (!consistency.empty()) story_values["scene_consistency"] = mean_of(consistency);
    for (const auto& [metric, value] : story_values) {
      values.push_back({story.system, story.story, -1, story.seed, metric, value,
                        metric == "scene_consistency" ? consistency_extra : nlohmann::json::object()});
      std::map<std::string, std::string> group{{"system", story.system},
                                               {"subjects", std::to_string(story.portraits.size())}};
      if (const auto category = categories.find(story.story); category != categories.end()) {
        group["category"] = category->second;
      }
      observations.push_back({group, metric, value});
    }
  }
  store.put_metric_values(run, values);

  const metrics::BootstrapOptions bootstrap{options.bootstrap_resamples, options.bootstrap_seed};
  std::vector<store::MetricSummary> summaries;
  for (const auto& [group_by, kind] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"system"}, "all"}, {{"system", "category"}, "category"}, {{"system", "subjects"}, "subjects"}}) {
    for (const auto& row : metrics::summarize_groups(observations, group_by, bootstrap)) {
      const std::string value = kind == "all" ? "" : row.group.at(group_by[1]);
      if (kind == "category" && value.empty()) continue;  // stories without a known category
      summaries.push_back({row.group.at("system"), row.metric, kind, value,
                           static_cast<std::int64_t>(row.n), row.mean, row.std, row.ci_low, row.ci_high});
    }
  }
  store.replace_metric_summaries(run, summaries);
  report.values = values.size();
  report.summaries = summaries.size();
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
