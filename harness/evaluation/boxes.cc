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
  std::map<std::size_t, DetectedBoxes> found;
  std::ostringstream threshold;
  threshold << "v1-threshold-" << settings_.threshold;
  const auto select = [&](const BoxRequest& request, const std::vector<metrics::Detection>& detections) {
    const auto& image = read(request.image);
    return metrics::select_subject_boxes(detections, request.queries, settings_.threshold, image.width, image.height);
  };

  // Imported detections: no cache needed beyond the file itself, but the image size is.
  std::vector<std::size_t> for_detector;
  for (std::size_t i = 0; i < requests.size(); ++i) {
    const auto answer = file_answers_.find(requests[i].image.path);
    if (answer == file_answers_.end()) {
      if (detector_) for_detector.push_back(i);
      continue;
    }
    std::vector<std::string> key{request_key(requests[i])};
    const auto cached = store_.get_embeddings(key, file_id_, threshold.str());
    if (cached[0]) {
      if (auto boxes = decode(*cached[0], requests[i].queries.size())) {
        found[i] = {std::move(*boxes), "detections-file"};
        continue;
      }
    }
    auto boxes = select(requests[i], answer->second);
    store_.put_embeddings({{key[0], encode(boxes)}}, file_id_, threshold.str());
    found[i] = {std::move(boxes), "detections-file"};
  }
  if (for_detector.empty()) return found;

  std::vector<std::string> keys;
  for (const auto i : for_detector) keys.push_back(request_key(requests[i]));
  const auto cached = store_.get_embeddings(keys, detector_->id(), threshold.str());
  std::vector<metrics::DetectionRequest> asks;
  std::vector<std::size_t> asked;
  for (std::size_t k = 0; k < for_detector.size(); ++k) {
    const auto i = for_detector[k];
    if (cached[k]) {
      if (auto boxes = decode(*cached[k], requests[i].queries.size())) {
        found[i] = {std::move(*boxes), "detector"};
        continue;
      }
    }
    asks.push_back({keys[k], output_dir / requests[i].image.path, requests[i].queries});
    asked.push_back(k);
  }
  if (asks.empty()) return found;
  const auto answers = detector_->detect(asks);
  std::vector<store::Embedding> rows;
  for (const auto k : asked) {
    const auto i = for_detector[k];
    auto boxes = select(requests[i], answers.at(keys[k]));
    rows.push_back({keys[k], encode(boxes)});
    found[i] = {std::move(boxes), "detector"};
  }
  store_.put_embeddings(rows, detector_->id(), threshold.str());
  return found;
}

}  // namespace dsbench::evaluation
