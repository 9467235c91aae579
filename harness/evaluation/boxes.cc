#include "harness/evaluation/boxes.h"

#include <sstream>

#include "core/files.h"
#include "core/hashing.h"

namespace dsbench::evaluation {
namespace {

// Mask boxes are cached next to the embeddings (as 5 floats: found, x0, y0, x1, y1).
const std::string kMaskBoxModel = "mask-box";
const std::string kMaskBoxVersion = "v1";

core::Image single_channel(const core::Image& mask) {
  if (mask.channels == 1) return mask;
  core::Image gray(mask.width, mask.height, 1);
  for (int y = 0; y < mask.height; ++y)
    for (int x = 0; x < mask.width; ++x) gray.at(y, x, 0) = mask.at(y, x, 0);
  return gray;
}

void push_box(std::vector<float>& out, const std::optional<metrics::Box>& box) {
  if (!box) {
    out.insert(out.end(), {0, 0, 0, 0, 0});
    return;
  }
  out.insert(out.end(), {1.0f, float(box->x0), float(box->y0), float(box->x1), float(box->y1)});
}

std::optional<metrics::Box> box_at(const std::vector<float>& in, std::size_t at) {
  if (in.at(at) < 0.5f) return std::nullopt;
  return metrics::Box{int(in[at + 1]), int(in[at + 2]), int(in[at + 3]), int(in[at + 4])};
}

// [n_all, n_subjects, n_all boxes (5 floats), n_subjects boxes (5 floats)]
std::vector<float> encode(const metrics::SubjectBoxes& boxes) {
  std::vector<float> out{float(boxes.all.size()), float(boxes.per_subject.size())};
  for (const auto& box : boxes.all) push_box(out, box);
  for (const auto& box : boxes.per_subject) push_box(out, box);
  return out;
}

std::optional<metrics::SubjectBoxes> decode(const std::vector<float>& in, std::size_t subjects) {
  if (in.size() < 2 || in[1] != float(subjects)) return std::nullopt;
  const auto all = static_cast<std::size_t>(in[0]);
  if (in.size() != 2 + 5 * (all + subjects)) return std::nullopt;
  metrics::SubjectBoxes boxes;
  for (std::size_t i = 0; i < all; ++i) {
    if (const auto box = box_at(in, 2 + 5 * i)) boxes.all.push_back(*box);
  }
  for (std::size_t i = 0; i < subjects; ++i) boxes.per_subject.push_back(box_at(in, 2 + 5 * (all + i)));
  return boxes;
}

std::string request_key(const BoxRequest& request) {
  std::string text = request.image.sha256;
  for (const auto& query : request.queries) text += "\n" + query;
  return core::sha256_hex(text);
}

}  // namespace

std::map<std::string, std::optional<metrics::Box>> mask_boxes(
    store::Store& store, const std::vector<store::ArtifactRow>& masks,
    const std::function<const core::Image&(const store::ArtifactRow&)>& read) {
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
      push_box(encoded, metrics::box_from_mask(single_channel(read(*by_sha[shas[i]]))));
      computed.push_back({shas[i], encoded});
    }
    boxes[shas[i]] = box_at(encoded, 0);
  }
  if (!computed.empty()) store.put_embeddings(computed, kMaskBoxModel, kMaskBoxVersion);
  return boxes;
}

BoxFinder::BoxFinder(store::Store& store, DetectorSettings settings) : store_(store), settings_(std::move(settings)) {
  if (!settings_.command.empty()) {
    detector_ = std::make_unique<metrics::ExternalDetector>(settings_.command, settings_.timeout_s);
  }
  if (!settings_.detections_file.empty()) {
    file_answers_ = metrics::read_detections_file(settings_.detections_file);
    file_id_ = "detections-file:" + core::sha256_hex(core::read_file(settings_.detections_file)).substr(0, 16);
  }
}

std::map<std::size_t, DetectedBoxes> BoxFinder::find(
    const std::vector<BoxRequest>& requests, const std::filesystem::path& output_dir,
    const std::function<const core::Image&(const store::ArtifactRow&)>& read) {
  std::ostringstream version;
  version << "v1-threshold-" << settings_.threshold;
  const auto select = [&](const BoxRequest& request, const std::vector<metrics::Detection>& detections) {
    const auto& image = read(request.image);
    return metrics::select_subject_boxes(detections, request.queries, settings_.threshold, image.width, image.height);
  };
  // The boxes of `indices` through the cache of `source_id`; the misses are answered in
  // one call of `answer` (request index -> detections).
  std::map<std::size_t, DetectedBoxes> found;
  using Answer = std::function<std::map<std::size_t, std::vector<metrics::Detection>>(const std::vector<std::size_t>&)>;
  const auto through_cache = [&](const std::vector<std::size_t>& indices, const std::string& source_id,
                                 const std::string& source, const Answer& answer) {
    std::vector<std::string> keys;
    for (const auto i : indices) keys.push_back(request_key(requests[i]));
    const auto cached = store_.get_embeddings(keys, source_id, version.str());
    std::vector<std::size_t> missing;
    std::map<std::size_t, std::string> key_of;
    for (std::size_t k = 0; k < indices.size(); ++k) {
      const auto i = indices[k];
      if (cached[k]) {
        if (auto boxes = decode(*cached[k], requests[i].queries.size())) {
          found[i] = {std::move(*boxes), source};
          continue;
        }
      }
      missing.push_back(i);
      key_of[i] = keys[k];
    }
    if (missing.empty()) return;
    std::vector<store::Embedding> rows;
    for (auto& [i, detections] : answer(missing)) {
      auto boxes = select(requests[i], detections);
      rows.push_back({key_of.at(i), encode(boxes)});
      found[i] = {std::move(boxes), source};
    }
    store_.put_embeddings(rows, source_id, version.str());
  };

  // Imported detections answer the images they list; the detector the others.
  std::vector<std::size_t> in_file, for_detector;
  for (std::size_t i = 0; i < requests.size(); ++i) {
    if (file_answers_.count(requests[i].image.path)) in_file.push_back(i);
    else if (detector_) for_detector.push_back(i);
  }
  if (!in_file.empty()) {
    through_cache(in_file, file_id_, "detections-file", [&](const std::vector<std::size_t>& missing) {
      std::map<std::size_t, std::vector<metrics::Detection>> answers;
      for (const auto i : missing) answers[i] = file_answers_.at(requests[i].image.path);
      return answers;
    });
  }
  if (!for_detector.empty()) {
    through_cache(for_detector, detector_->id(), "detector", [&](const std::vector<std::size_t>& missing) {
      std::vector<metrics::DetectionRequest> asks;
      for (const auto i : missing) {
        asks.push_back({request_key(requests[i]), output_dir / requests[i].image.path, requests[i].queries});
      }
      const auto detected = detector_->detect(asks);
      std::map<std::size_t, std::vector<metrics::Detection>> answers;
      for (const auto i : missing) answers[i] = detected.at(request_key(requests[i]));
      return answers;
    });
  }
  return found;
}

}  // namespace dsbench::evaluation
