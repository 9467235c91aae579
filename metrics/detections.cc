#include "metrics/detections.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "core/errors.h"
#include "core/files.h"
#include "core/hashing.h"
#include "core/process.h"

namespace dsbench::metrics {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

[[noreturn]] void fail(const std::string& source, int line, const std::string& field, const std::string& what) {
  throw core::InputError(core::Location{source, line, field}, what);
}

Detection parse_detection(const json& value, const std::string& source, int line, const std::string& field) {
  if (!value.is_object()) fail(source, line, field, "expected an object {\"query\", \"box\", \"score\"}");
  Detection detection;
  const auto query = value.find("query");
  if (query == value.end() || !query->is_string()) fail(source, line, field + ".query", "expected a string");
  detection.query = query->get<std::string>();
  const auto score = value.find("score");
  if (score == value.end() || !score->is_number() || !std::isfinite(score->get<double>())) {
    fail(source, line, field + ".score", "expected a finite number");
  }
  detection.score = score->get<double>();
  const auto box = value.find("box");
  if (box == value.end() || !box->is_array() || box->size() != 4) {
    fail(source, line, field + ".box", "expected [x0, y0, x1, y1]");
  }
  double c[4];
  for (std::size_t i = 0; i < 4; ++i) {
    if (!(*box)[i].is_number() || !std::isfinite((*box)[i].get<double>()) || std::abs((*box)[i].get<double>()) > 1e7) {
      fail(source, line, field + ".box[" + std::to_string(i) + "]", "expected a pixel coordinate");
    }
    c[i] = (*box)[i].get<double>();
  }
  if (c[2] < c[0] || c[3] < c[1]) fail(source, line, field + ".box", "expected x0 <= x1 and y0 <= y1");
  // Pixels the box touches: floor the start, ceil the exclusive end.
  detection.box = Box{static_cast<int>(std::floor(c[0])), static_cast<int>(std::floor(c[1])),
                      static_cast<int>(std::ceil(c[2])), static_cast<int>(std::ceil(c[3]))};
  return detection;
}

}  // namespace

std::pair<std::string, std::vector<Detection>> parse_detection_line(const std::string& line,
                                                                    const std::string& key_field,
                                                                    const std::string& source, int line_number) {
  json value;
  try {
    value = json::parse(line);
  } catch (const json::exception& error) {
    fail(source, line_number, "", std::string("not a JSON line: ") + error.what());
  }
  if (!value.is_object()) fail(source, line_number, "", "expected a JSON object per line");
  const auto key = value.find(key_field);
  if (key == value.end() || !key->is_string()) fail(source, line_number, key_field, "expected a string");
  const auto list = value.find("detections");
  if (list == value.end() || !list->is_array()) fail(source, line_number, "detections", "expected a list");
  std::vector<Detection> detections;
  for (std::size_t i = 0; i < list->size(); ++i) {
    detections.push_back(parse_detection((*list)[i], source, line_number, "detections[" + std::to_string(i) + "]"));
  }
  return {key->get<std::string>(), std::move(detections)};
}

std::map<std::string, std::vector<Detection>> read_detections_file(const fs::path& file) {
  std::ifstream in(file);
  if (!in) throw core::InputError(core::Location{file.string(), 0, ""}, "cannot read the detections file");
  std::map<std::string, std::vector<Detection>> result;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto [image, detections] = parse_detection_line(line, "image", file.string(), number);
    if (!result.emplace(image, std::move(detections)).second) {
      fail(file.string(), number, "image", "image '" + image + "' is listed twice");
    }
  }
  return result;
}

ExternalDetector::ExternalDetector(std::string command, double timeout_s)
    : command_(std::move(command)), timeout_s_(timeout_s) {
  if (command_.find_first_not_of(" \t") == std::string::npos) {
    throw core::InputError(core::Location{"", 0, "evaluation.detector.command"}, "expected a command");
  }
}

std::string ExternalDetector::id() const { return "detector:" + core::sha256_hex(command_).substr(0, 16); }

std::map<std::string, std::vector<Detection>> ExternalDetector::detect(
    const std::vector<DetectionRequest>& requests) const {
  std::map<std::string, std::vector<Detection>> answers;
  if (requests.empty()) return answers;
  const core::TemporaryDirectory scratch("dsbench-detector");
  const fs::path input = scratch.path() / "requests.jsonl", output = scratch.path() / "responses.jsonl";
  {
    std::ofstream out(input);
    for (const auto& request : requests) {
      out << json{{"id", request.id}, {"image", fs::absolute(request.image).string()}, {"queries", request.queries}}.dump()
          << "\n";
    }
    if (!out) throw core::RunError("cannot write the detector's requests to " + input.string());
  }
  const auto result = core::run_command(command_, input, output, timeout_s_);
  const std::string context = "detector command '" + command_ + "'";
  const std::string said = result.stderr_tail.empty() ? "" : "; it said: " + result.stderr_tail;
  if (result.timed_out) throw core::RunError(context + " ran longer than " + std::to_string(timeout_s_) + " s" + said);
  if (result.exit_code != 0) {
    throw core::RunError(context + " exited with status " + std::to_string(result.exit_code) + said);
  }
  std::set<std::string> asked;
  for (const auto& request : requests) asked.insert(request.id);
  std::ifstream in(output);
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto [id, detections] = parse_detection_line(line, "id", context + " output", number);
    if (!asked.count(id)) fail(context + " output", number, "id", "answers '" + id + "', which was not asked");
    answers[id] = std::move(detections);
  }
  for (const auto& request : requests) {
    if (!answers.count(request.id)) {
      throw core::RunError(context + " gave no answer for " + request.image.string() + " (id " + request.id + ")" + said);
    }
  }
  return answers;
}

SubjectBoxes select_subject_boxes(const std::vector<Detection>& detections, const std::vector<std::string>& queries,
                                  double threshold, int image_width, int image_height) {
  std::map<std::string, std::vector<std::pair<double, Box>>> by_query;
  const std::set<std::string> wanted(queries.begin(), queries.end());
  for (const auto& detection : detections) {
    if (detection.score < threshold || !wanted.count(detection.query)) continue;
    const Box box{std::clamp(detection.box.x0, 0, image_width), std::clamp(detection.box.y0, 0, image_height),
                  std::clamp(detection.box.x1, 0, image_width), std::clamp(detection.box.y1, 0, image_height)};
    if (box.width() <= 0 || box.height() <= 0) continue;
    by_query[detection.query].push_back({detection.score, box});
  }
  SubjectBoxes result;
  for (auto& [query, boxes] : by_query) {
    std::stable_sort(boxes.begin(), boxes.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    for (const auto& [score, box] : boxes) {
      if (std::find(result.all.begin(), result.all.end(), box) == result.all.end()) result.all.push_back(box);
    }
  }
  std::map<std::string, std::size_t> used;
  for (const auto& query : queries) {
    const auto found = by_query.find(query);
    std::size_t& next = used[query];
    if (found != by_query.end() && next < found->second.size()) {
      result.per_subject.push_back(found->second[next++].second);
    } else {
      result.per_subject.push_back(std::nullopt);
    }
  }
  return result;
}

}  // namespace dsbench::metrics
