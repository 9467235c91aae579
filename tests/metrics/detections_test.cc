// The detector plug-in's protocol (metrics/detections.h): parsing answers, the D&C box
// selection (threshold, clipping, same-class subjects) and the external command's error
// paths, each naming where the problem is.
#include <gtest/gtest.h>

#include <fstream>

#include "core/errors.h"
#include "core/files.h"
#include "metrics/detections.h"

namespace dsbench::metrics {
namespace {

namespace fs = std::filesystem;

std::string message_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const std::exception& error) {
    return error.what();
  }
  return "";
}

TEST(DetectionLine, ParsesBoxesFlooringStartsAndCeilingEnds) {
  const auto [id, detections] = parse_detection_line(
      R"({"id": "a", "detections": [{"query": "cat", "box": [1.5, 2, 10.2, 20], "score": 0.9}]})", "id", "out", 3);
  EXPECT_EQ(id, "a");
  ASSERT_EQ(detections.size(), 1u);
  EXPECT_EQ(detections[0].query, "cat");
  EXPECT_EQ(detections[0].box, (Box{1, 2, 11, 20}));
  EXPECT_DOUBLE_EQ(detections[0].score, 0.9);
}

TEST(DetectionLine, MalformedAnswersNameSourceLineAndField) {
  const auto error = [](const std::string& line) {
    return message_of([&] { parse_detection_line(line, "id", "detector output", 7); });
  };
  EXPECT_NE(error("{not json").find("detector output:7"), std::string::npos);
  EXPECT_NE(error(R"({"detections": []})").find("id"), std::string::npos);
  EXPECT_NE(error(R"({"id": "a"})").find("detections"), std::string::npos);
  EXPECT_NE(error(R"({"id": "a", "detections": [{"query": "cat", "box": [1, 2, 3], "score": 1}]})")
                .find("detections[0].box"),
            std::string::npos);
  EXPECT_NE(error(R"({"id": "a", "detections": [{"query": "cat", "box": [5, 2, 3, 4], "score": 1}]})")
                .find("x0 <= x1"),
            std::string::npos);
  EXPECT_NE(error(R"({"id": "a", "detections": [{"query": "cat", "box": [1, 2, 3, 4], "score": "high"}]})")
                .find("detections[0].score"),
            std::string::npos);
  EXPECT_NE(error(R"({"id": "a", "detections": [{"box": [1, 2, 3, 4], "score": 1}]})").find("detections[0].query"),
            std::string::npos);
  EXPECT_NE(error(R"({"id": "a", "detections": [{"query": "c", "box": [1, 2, 3, 1e300], "score": 1}]})")
                .find("box[3]"),
            std::string::npos);
  EXPECT_THROW(parse_detection_line("[1, 2]", "id", "x", 1), core::InputError);
}

TEST(SelectSubjectBoxes, AppliesThresholdClipsAndDropsDuplicates) {
  const std::vector<Detection> detections{
      {"cat", {10, 10, 30, 30}, 0.9},
      {"cat", {10, 10, 30, 30}, 0.8},    // the same box again: kept once
      {"cat", {50, 50, 60, 60}, 0.3},    // below threshold
      {"dog", {-5, 40, 20, 200}, 0.7},   // clipped to the 64x64 image
      {"lamp", {0, 0, 5, 5}, 0.99},      // not asked for
      {"dog", {70, 70, 80, 80}, 0.95}};  // entirely outside: empty after clipping
  const auto boxes = select_subject_boxes(detections, {"cat", "dog"}, 0.4, 64, 64);
  ASSERT_EQ(boxes.per_subject.size(), 2u);
  EXPECT_EQ(boxes.per_subject[0], (Box{10, 10, 30, 30}));
  EXPECT_EQ(boxes.per_subject[1], (Box{0, 40, 20, 64}));
  EXPECT_EQ(boxes.all.size(), 2u);
}

TEST(SelectSubjectBoxes, SameClassSubjectsTakeBoxesByDescendingScore) {
  const std::vector<Detection> detections{
      {"boy", {0, 0, 10, 10}, 0.5}, {"boy", {20, 0, 30, 10}, 0.9}, {"girl", {40, 0, 50, 10}, 0.8}};
  const auto boxes = select_subject_boxes(detections, {"boy", "girl", "boy", "boy"}, 0.4, 64, 64);
  ASSERT_EQ(boxes.per_subject.size(), 4u);
  EXPECT_EQ(boxes.per_subject[0], (Box{20, 0, 30, 10}));
  EXPECT_EQ(boxes.per_subject[1], (Box{40, 0, 50, 10}));
  EXPECT_EQ(boxes.per_subject[2], (Box{0, 0, 10, 10}));
  EXPECT_FALSE(boxes.per_subject[3].has_value());  // a third boy was not found
  EXPECT_EQ(boxes.all.size(), 3u);
}

TEST(DetectionsFile, ReadsLinesByImageAndRejectsDuplicates) {
  const core::TemporaryDirectory dir("dsbench-detections-test");
  const auto file = dir.path() / "detections.jsonl";
  core::write_file_atomic(file,
                          "{\"image\": \"a/scene_00.png\", \"detections\": []}\n\n"
                          "{\"image\": \"a/scene_01.png\", \"detections\": [{\"query\": \"cat\", \"box\": [0,0,4,4], "
                          "\"score\": 1}]}\n");
  const auto answers = read_detections_file(file);
  ASSERT_EQ(answers.size(), 2u);
  EXPECT_TRUE(answers.at("a/scene_00.png").empty());
  EXPECT_EQ(answers.at("a/scene_01.png").size(), 1u);

  core::write_file_atomic(file, "{\"image\": \"x.png\", \"detections\": []}\n{\"image\": \"x.png\", \"detections\": []}\n");
  const auto message = message_of([&] { read_detections_file(file); });
  EXPECT_NE(message.find(file.string() + ":2"), std::string::npos) << message;
  EXPECT_NE(message.find("listed twice"), std::string::npos);
  EXPECT_THROW(read_detections_file(dir.path() / "absent.jsonl"), core::InputError);
}

class ExternalDetectorTest : public ::testing::Test {
 protected:
  // A shell "detector" answering every request with one fixed box per id (the ids are
  // read from the requests, so answers follow the protocol).
  std::string echo_detector(const std::string& extra = "") const {
    return "sed -n 's/.*\"id\":\"\\([^\"]*\\)\".*/{\"id\":\"\\1\",\"detections\":[{\"query\":\"cat\",\"box\":[1,2,3,4],"
           "\"score\":0.5}]}/p'" +
           extra;
  }
  std::vector<DetectionRequest> requests() const {
    return {{"r1", "/tmp/a.png", {"cat"}}, {"r2", "/tmp/b.png", {"cat", "dog"}}};
  }
};

TEST_F(ExternalDetectorTest, AnswersEveryRequest) {
  const ExternalDetector detector(echo_detector(), 30);
  const auto answers = detector.detect(requests());
  ASSERT_EQ(answers.size(), 2u);
  EXPECT_EQ(answers.at("r2").at(0).box, (Box{1, 2, 3, 4}));
  EXPECT_NE(detector.id(), ExternalDetector(echo_detector() + " ", 30).id());
  EXPECT_TRUE(detector.detect({}).empty());
}

TEST_F(ExternalDetectorTest, FailuresNameTheCommandAndWhatWentWrong) {
  const auto failure = [&](const std::string& command, double timeout = 30) {
    return message_of([&] { ExternalDetector(command, timeout).detect(requests()); });
  };
  const std::string failed = failure("echo 'CUDA not available' >&2; exit 3");
  EXPECT_NE(failed.find("exited with status 3"), std::string::npos) << failed;
  EXPECT_NE(failed.find("CUDA not available"), std::string::npos);
  EXPECT_NE(failure(echo_detector(" | head -n 1")).find("gave no answer for /tmp/b.png"), std::string::npos);
  EXPECT_NE(failure("echo '{\"id\": \"zz\", \"detections\": []}'").find("which was not asked"), std::string::npos);
  EXPECT_NE(failure("echo garbage").find("not a JSON line"), std::string::npos);
  EXPECT_NE(failure("sleep 20", 0.2).find("ran longer than"), std::string::npos);
  EXPECT_THROW(ExternalDetector("  ", 30), core::InputError);
}

}  // namespace
}  // namespace dsbench::metrics
