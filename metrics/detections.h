// Subject boxes from an open-vocabulary detector (D&C's OWLv2 step), for images whose
// maker stored no subject masks. The detector lives outside dsbench: a command run as a
// batch filter, or a file of detections made elsewhere (`dsbench eval --detections`).
//
// Protocol (JSON Lines, both directions; documented in metrics/README.md):
//   request,  one per image:  {"id": "...", "image": "/abs/path.png", "queries": ["chef", "cat"]}
//   response, one per image:  {"id": "...", "detections": [{"query": "chef",
//                               "box": [x0, y0, x1, y1], "score": 0.87}, ...]}
// Boxes are pixel coordinates of the image, x1/y1 exclusive; responses may come in any
// order. A detections file uses "image" (the path as the run stores it, relative to its
// output folder) instead of "id".
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "metrics/crops.h"

namespace dsbench::metrics {

struct Detection {
  std::string query;
  Box box;
  double score = 0.0;
};

struct DetectionRequest {
  std::string id;
  std::filesystem::path image;
  std::vector<std::string> queries;
};

// One response line: (id or image, detections). InputError naming source:line and the
// field for malformed JSON, a missing key, a box that is not 4 numbers with x0 <= x1 and
// y0 <= y1, or a non-numeric score.
std::pair<std::string, std::vector<Detection>> parse_detection_line(const std::string& line,
                                                                    const std::string& key_field,
                                                                    const std::string& source, int line_number);

// All lines of a detections file keyed by "image". InputError as above, and for an image
// listed twice.
std::map<std::string, std::vector<Detection>> read_detections_file(const std::filesystem::path& file);

class ExternalDetector {
 public:
  ExternalDetector(std::string command, double timeout_s);
  // Runs the command once over every request. RunError naming the command when it cannot
  // start, fails, times out, or leaves a request unanswered (stderr's tail quoted);
  // InputError for malformed answers.
  std::map<std::string, std::vector<Detection>> detect(const std::vector<DetectionRequest>& requests) const;
  // Identifies the detector in cache keys: a different command is a different detector.
  std::string id() const;

 private:
  std::string command_;
  double timeout_s_;
};

// D&C's selection. Detections of `queries` (class words) at score >= threshold, boxes
// clipped to the image and empty ones dropped, duplicates (same box) kept once:
//   all:         every kept box, for the MuDI form (its count must equal the subjects')
//   per_subject: for subject i (queries[i]) the best box of its query; subjects sharing a
//                class word take that query's boxes in descending score order, so two
//                "boy"s get the two best "boy" boxes. nullopt = not detected.
struct SubjectBoxes {
  std::vector<Box> all;
  std::vector<std::optional<Box>> per_subject;
};
SubjectBoxes select_subject_boxes(const std::vector<Detection>& detections, const std::vector<std::string>& queries,
                                  double threshold, int image_width, int image_height);

}  // namespace dsbench::metrics
