#include "harness/evaluation/evaluation.h"

#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <functional>
#include <map>
#include <optional>
#include <set>

#include "core/errors.h"
#include "datasets/dataset.h"
#include "core/hashing.h"
#include "core/image.h"
#include "metrics/crops.h"
#include "metrics/distance.h"
#include "metrics/dnc.h"
#include "metrics/dreamsim.h"
#include "metrics/grouping.h"

namespace dsbench::evaluation {
namespace {

namespace fs = std::filesystem;
using Embedding = std::vector<float>;

// Mask boxes are cached next to the embeddings (as 5 floats: found, x0, y0, x1, y1) so
// that a second evaluation decodes no image at all.
const std::string kMaskBoxModel = "mask-box";
const std::string kMaskBoxVersion = "v1";

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

core::Image single_channel(const core::Image& mask) {
  if (mask.channels == 1) return mask;
  core::Image gray(mask.width, mask.height, 1);
  for (int y = 0; y < mask.height; ++y)
    for (int x = 0; x < mask.width; ++x) gray.at(y, x, 0) = mask.at(y, x, 0);
  return gray;
}

// An image or crop to embed: its cache key and how to make its pixels when needed.
struct Request {
  std::string key;
  std::function<core::Image()> pixels;
};

std::string model_cache_id(const Options& options) {
  if (options.weights_dir.empty()) {
    return "dreamsim-" + options.model + "-random-seed" + std::to_string(options.random_seed);
  }
  // Weights of another conversion must not share cache rows: the files' sizes are cheap
  // to read and tell conversions apart in practice.
  std::string id = "dreamsim-" + options.model;
  for (const auto& spec : metrics::dreamsim_backbones(options.model)) {
    const auto file = options.weights_dir / (spec.name + ".safetensors");
    std::error_code ignored;
    id += ":" + std::to_string(fs::file_size(file, ignored));
  }
  return id;
}

metrics::DreamSim make_model(const Options& options) {
  if (options.weights_dir.empty()) {
    if (!options.model.starts_with("tiny-") && !options.allow_random_full_size) {
      throw core::InputError(core::Location{"", 0, "metrics.dreamsim.weights"},
                             "DreamSim model '" + options.model +
                                 "' needs converted weights (--weights DIR; scripts/convert_dreamsim.py); "
                                 "only tiny-* models run with random weights");
    }
    return metrics::DreamSim::random(options.model, options.random_seed);
  }
  return metrics::DreamSim::load(options.model, options.weights_dir);
}

class Embeddings {
 public:
  Embeddings(store::Store& store, const Options& options) : store_(store), options_(options), model_id_(model_cache_id(options)) {}

  void add(Request request) {
    if (known_.insert(request.key).second) requests_.push_back(std::move(request));
  }

  // Looks everything up in the cache, embeds the rest in batches, stores them.
  void compute(Report& report) {
    std::vector<std::string> keys;
    for (const auto& request : requests_) keys.push_back(request.key);
    report.images = keys.size();
    const auto cached = store_.get_embeddings(keys, model_id_, metrics::kDreamSimPreprocessingVersion);
    std::vector<const Request*> missing;
    for (std::size_t i = 0; i < keys.size(); ++i) {
      if (cached[i]) values_[keys[i]] = *cached[i];
      else missing.push_back(&requests_[i]);
    }
    if (missing.empty()) return;
    if (options_.threads > 0) torch::set_num_threads(options_.threads);
    const auto model = make_model(options_);
    const std::size_t batch = static_cast<std::size_t>(std::max(options_.batch_size, 1));
    for (std::size_t start = 0; start < missing.size(); start += batch) {
      const auto end = std::min(missing.size(), start + batch);
      std::vector<core::Image> images;
      for (std::size_t i = start; i < end; ++i) images.push_back(missing[i]->pixels());
      const auto embedded = model.embed_pixels(model.preprocess(images)).contiguous();
      std::vector<store::Embedding> rows;
      for (std::size_t i = start; i < end; ++i) {
        const float* data = embedded[static_cast<long>(i - start)].data_ptr<float>();
        Embedding values(data, data + embedded.size(1));
        values_[missing[i]->key] = values;
        rows.push_back({missing[i]->key, std::move(values)});
      }
      store_.put_embeddings(rows, model_id_, metrics::kDreamSimPreprocessingVersion);
      report.embedded += rows.size();
    }
  }

  const Embedding& get(const std::string& key) const { return values_.at(key); }

 private:
  store::Store& store_;
  const Options& options_;
  std::string model_id_;
  std::set<std::string> known_;
  std::vector<Request> requests_;
  std::map<std::string, Embedding> values_;
};

std::string crop_key(const std::string& image_sha, const std::string& mask_sha) {
  return core::sha256_hex("white-square-crop-v1:" + image_sha + ":" + mask_sha);
}

// Boxes of every mask, through the cache.
std::map<std::string, std::optional<metrics::Box>> mask_boxes(store::Store& store, ImageReader& reader,
                                                               const std::vector<store::ArtifactRow>& masks) {
  std::vector<std::string> shas;
  std::map<std::string, const store::ArtifactRow*> by_sha;
  for (const auto& mask : masks) {
    if (by_sha.emplace(mask.sha256, &mask).second) shas.push_back(mask.sha256);
  }
  const auto cached = store.get_embeddings(shas, kMaskBoxModel, kMaskBoxVersion);
  std::map<std::string, std::optional<metrics::Box>> boxes;
  std::vector<store::Embedding> computed;
  for (std::size_t i = 0; i < shas.size(); ++i) {
    std::vector<float> encoded;
    if (cached[i] && cached[i]->size() == 5) {
      encoded = *cached[i];
    } else {
      const auto box = metrics::box_from_mask(single_channel(reader.read(*by_sha[shas[i]])));
      encoded = box ? std::vector<float>{1.0f, float(box->x0), float(box->y0), float(box->x1), float(box->y1)}
                    : std::vector<float>{0, 0, 0, 0, 0};
      computed.push_back({shas[i], encoded});
    }
    if (encoded[0] > 0.5f) {
      boxes[shas[i]] = metrics::Box{int(encoded[1]), int(encoded[2]), int(encoded[3]), int(encoded[4])};
    } else {
      boxes[shas[i]] = std::nullopt;
    }
  }
  if (!computed.empty()) store.put_embeddings(computed, kMaskBoxModel, kMaskBoxVersion);
  return boxes;
}

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

// Categories from the dataset the run was made from; none when it cannot be read (an
// imported run, a moved dataset): the summaries then simply lack category rows.
std::map<std::string, std::string> categories_from_config(const std::string& config_json) {
  std::map<std::string, std::string> categories;
  try {
    const auto config = nlohmann::json::parse(config_json);
    const auto root = config.at("dataset").value("root", std::string());
    const auto format = config.at("dataset").value("format", std::string("auto"));
    if (root.empty() || !fs::exists(root) || format == "generated") return categories;
    const auto dataset = format == "auto" ? datasets::load_dataset(root)
                                          : datasets::load_dataset(root, datasets::parse_layout(format));
    for (const auto& story : dataset.stories) categories[story.id] = story.category;
  } catch (const std::exception&) {
    categories.clear();
  }
  return categories;
}

}  // namespace

Report evaluate_run(store::Store& store, store::RunId run, const Options& options) {
  const auto started = std::chrono::steady_clock::now();
  const auto info = store.get_run(run);
  metrics::dreamsim_backbones(options.model);  // unknown model: InputError before any work
  const auto stories = group_artifacts(store.artifacts_of_run(run));
  ImageReader reader(info.output_dir);

  std::vector<store::ArtifactRow> masks;
  for (const auto& story : stories) {
    for (const auto& [s, mask] : story.portrait_masks) masks.push_back(mask);
    for (const auto& [n, scene] : story.scenes)
      for (const auto& [s, mask] : scene.masks) masks.push_back(mask);
  }
  const auto boxes = mask_boxes(store, reader, masks);

  Embeddings embeddings(store, options);
  const auto whole = [&](const store::ArtifactRow& row) {
    embeddings.add({row.sha256, [&reader, row] { return reader.read(row); }});
    return row.sha256;
  };
  const auto crop = [&](const store::ArtifactRow& row, const store::ArtifactRow& mask) -> std::optional<std::string> {
    const auto box = boxes.at(mask.sha256);
    if (!box) return std::nullopt;
    const std::string key = crop_key(row.sha256, mask.sha256);
    embeddings.add({key, [&reader, row, box] { return metrics::white_padded_square_crop(reader.read(row), *box); }});
    return key;
  };

  // Keys per story: portrait whole/crop, scene whole, scene crops per subject.
  struct StoryKeys {
    std::map<int, std::string> portrait, portrait_crop, scene;
    std::map<int, std::map<int, std::optional<std::string>>> scene_crop;  // scene -> subject -> crop
  };
  std::vector<StoryKeys> keys(stories.size());
  for (std::size_t i = 0; i < stories.size(); ++i) {
    const auto& story = stories[i];
    for (const auto& [s, portrait] : story.portraits) {
      keys[i].portrait[s] = whole(portrait);
      const auto mask = story.portrait_masks.find(s);
      std::optional<std::string> cropped;
      if (mask != story.portrait_masks.end()) cropped = crop(portrait, mask->second);
      keys[i].portrait_crop[s] = cropped.value_or(keys[i].portrait[s]);
    }
    for (const auto& [n, scene] : story.scenes) {
      if (!scene.image) continue;
      keys[i].scene[n] = whole(*scene.image);
      for (const auto& [s, mask] : scene.masks) keys[i].scene_crop[n][s] = crop(*scene.image, mask);
    }
  }
  Report report;
  embeddings.compute(report);
  const auto categories =
      options.story_categories.empty() ? categories_from_config(info.config_json) : options.story_categories;

  std::vector<store::MetricValue> values;
  std::vector<metrics::Observation> observations;
  for (std::size_t i = 0; i < stories.size(); ++i) {
    const auto& story = stories[i];
    const auto& k = keys[i];
    std::map<std::string, std::vector<double>> per_scene;  // metric -> values over scenes
    const auto put = [&](int scene, const std::string& metric, double value, nlohmann::json extra) {
      values.push_back({story.system, story.story, scene, story.seed, metric, value, std::move(extra)});
      if (scene >= 0) per_scene[metric].push_back(value);
    };
    std::map<int, std::vector<std::string>> crops_of_subject;  // across the story
    for (const auto& [n, scene_key] : k.scene) {
      const auto& scene_embedding = embeddings.get(scene_key);
      const auto& scene_crops = k.scene_crop.count(n) ? k.scene_crop.at(n) : std::map<int, std::optional<std::string>>{};
      std::vector<int> subjects;
      if (scene_crops.empty()) {
        for (const auto& [s, key] : k.portrait) subjects.push_back(s);
      } else {
        for (const auto& [s, key] : scene_crops) if (k.portrait.count(s)) subjects.push_back(s);
      }
      std::vector<double> whole_distances;
      nlohmann::json whole_extra = nlohmann::json::object();
      for (const int s : subjects) {
        const double d = distance(scene_embedding, embeddings.get(k.portrait.at(s)));
        whole_distances.push_back(d);
        whole_extra[std::to_string(s)] = d;
      }
      if (!subjects.empty()) put(n, "dreamsim_scene_portrait", mean_of(whole_distances), whole_extra);
      if (scene_crops.empty()) continue;

      std::vector<double> detected_distances, strict_distances;
      std::vector<const Embedding*> detections;
      std::vector<Eigen::MatrixXd> references;
      nlohmann::json subject_extra = nlohmann::json::object();
      for (const int s : subjects) {
        const auto& portrait_crop = embeddings.get(k.portrait_crop.at(s));
        references.push_back(centred_rows({&portrait_crop}));
        const auto& scene_crop = scene_crops.at(s);
        if (!scene_crop) {
          strict_distances.push_back(1.0);
          subject_extra[std::to_string(s)] = nullptr;
          continue;
        }
        const auto& crop_embedding = embeddings.get(*scene_crop);
        detections.push_back(&crop_embedding);
        crops_of_subject[s].push_back(*scene_crop);
        const double d = distance(crop_embedding, portrait_crop);
        detected_distances.push_back(d);
        strict_distances.push_back(d);
        subject_extra[std::to_string(s)] = d;
      }
      if (subjects.empty()) continue;
      put(n, "detection_rate", double(detections.size()) / double(subjects.size()), nlohmann::json::object());
      put(n, "dnc_ds_subject_strict", mean_of(strict_distances), subject_extra);
      if (!detected_distances.empty()) put(n, "dnc_ds_subject", mean_of(detected_distances), subject_extra);
      const double dnc = detections.size() == subjects.size()
                             ? metrics::dnc_score(centred_rows(detections), references)
                             : 0.0;  // MuDI: a missing or extra detection scores 0
      put(n, "dnc_ds", dnc, nlohmann::json::object());
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
