// Where each subject is, per image, for D&C's crops: from the masks the system stored,
// else from imported detections (a file) or a detector plug-in. Results are cached in the
// store's embedding cache (as small float vectors), so a second evaluation decodes no
// image and runs no detector.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/image.h"
#include "harness/store/store.h"
#include "metrics/crops.h"
#include "metrics/detections.h"

namespace dsbench::evaluation {

// Boxes of every mask artifact (keyed by the mask's sha256); nullopt = empty mask.
std::map<std::string, std::optional<metrics::Box>> mask_boxes(
    store::Store& store, const std::vector<store::ArtifactRow>& masks,
    const std::function<const core::Image&(const store::ArtifactRow&)>& read);

struct DetectorSettings {
  std::string command;                 // empty = no detector
  double threshold = 0.4;
  double timeout_s = 3600.0;
  std::filesystem::path detections_file;  // empty = none; its answers win over the command's
};

// One image to find subjects in: `queries` are the class words of its subjects, in order.
struct BoxRequest {
  store::ArtifactRow image;
  std::vector<std::string> queries;
};

struct DetectedBoxes {
  metrics::SubjectBoxes boxes;
  std::string source;  // "detector" | "detections-file"
};

// Answers for the requests the detector or the file can serve, keyed by the request's
// index; requests neither serves are left out. `read` decodes an image (for its size),
// only on a cache miss.
class BoxFinder {
 public:
  BoxFinder(store::Store& store, DetectorSettings settings);
  bool enabled() const { return detector_ || !file_answers_.empty(); }
  // `output_dir`: where the run's artifact paths are relative to.
  std::map<std::size_t, DetectedBoxes> find(const std::vector<BoxRequest>& requests,
                                            const std::filesystem::path& output_dir,
                                            const std::function<const core::Image&(const store::ArtifactRow&)>& read);

 private:
  store::Store& store_;
  DetectorSettings settings_;
  std::unique_ptr<metrics::ExternalDetector> detector_;
  std::map<std::string, std::vector<metrics::Detection>> file_answers_;
  std::string file_id_;
};

}  // namespace dsbench::evaluation
