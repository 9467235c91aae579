// Official per-case JSON: reading the published example's shape, writing it back, and
// malformed cases.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>

#include "core/files.h"
#include "datasets/dataset.h"
#include "tests/datasets/temp_folder.h"

namespace dsbench::datasets {
namespace {

using testing::describe;
using testing::TempFolder;

// Same shape as DreamStory's results/examples/example.json (text written for this test).
constexpr const char* kExample = R"({
    "test_case_name": "example",
    "subjects": [
        {
            "subject_name": "boy",
            "prompt": "A freckled boy with copper hair.",
            "subject_detection_keywords": "boy",
            "word_token_idx": {},
            "subject_word": ["boy"],
            "ref_token_idx": []
        },
        {
            "subject_name": "cat",
            "prompt": "A fluffy white cat with a bow tie.",
            "subject_detection_keywords": "cat",
            "word_token_idx": {},
            "subject_word": ["cat"],
            "ref_token_idx": []
        }
    ],
    "scene": {
        "prompt": "A boy with a slingshot winks at a white cat.",
        "word_token_idx": {"1": "a", "2": "boy"},
        "subject_word": [["boy"], ["cat"]],
        "ref_token_idx": [[1, 2], [8, 9, 10]]
    }
}
)";

TEST(CaseJson, ReadsAFolderOfCasesRecursively) {
  TempFolder folder;
  std::string b_case = kExample;
  b_case.replace(b_case.find("\"example\""), 9, "\"b_case\"");
  folder.write("b_case/final_meta/b_case.json", b_case);
  folder.write("a.json", kExample);
  EXPECT_EQ(detect_layout(folder.path()), Layout::kOfficialCaseJson);
  const Dataset dataset = load_dataset(folder.path());
  ASSERT_EQ(dataset.stories.size(), 2u);
  const Story& story = dataset.stories[0];  // a.json sorts first
  EXPECT_EQ(story.id, "example");
  EXPECT_EQ(story.category, "official-case");
  ASSERT_EQ(story.subjects.size(), 2u);
  EXPECT_EQ(story.subjects[1].name, "cat");
  EXPECT_EQ(story.subjects[1].kind, "cat");
  EXPECT_EQ(story.subjects[1].description, "A fluffy white cat with a bow tie.");
  ASSERT_EQ(story.scenes.size(), 1u);
  EXPECT_EQ(story.scenes[0].prompt, "A boy with a slingshot winks at a white cat.");
  EXPECT_EQ(story.scenes[0].subjects, (std::vector<int>{0, 1}));
  EXPECT_EQ(story.scenes[0].subject_tokens, (std::vector<std::vector<int>>{{1, 2}, {8, 9, 10}}));
  EXPECT_EQ(story.scenes[0].case_name, "example");
  EXPECT_EQ(story.scenes[0].origin.line, 22);
  EXPECT_EQ(dataset.stories[1].id, "b_case");
}

TEST(CaseJson, WriteThenReadGivesTheSameCase) {
  TempFolder folder;
  folder.write("in/example.json", kExample);
  const Story story = load_dataset(folder.path() / "in").stories.at(0);
  write_official_case_json(story, 0, folder.path() / "out" / "example.json");
  const auto written = nlohmann::json::parse(core::read_file(folder.path() / "out" / "example.json"));
  EXPECT_EQ(written["test_case_name"], "example");
  EXPECT_EQ(written["subjects"][0]["subject_word"], nlohmann::json::array({"boy"}));
  EXPECT_EQ(written["subjects"][1]["subject_detection_keywords"], "cat");
  EXPECT_TRUE(written["subjects"][0]["word_token_idx"].is_object());
  EXPECT_EQ(written["scene"]["subject_word"], nlohmann::json::parse(R"([["boy"],["cat"]])"));
  EXPECT_EQ(written["scene"]["ref_token_idx"], nlohmann::json::parse("[[1,2],[8,9,10]]"));
  const Story again = load_dataset(folder.path() / "out").stories.at(0);
  EXPECT_EQ(again.id, story.id);
  EXPECT_EQ(again.scenes[0].prompt, story.scenes[0].prompt);
  EXPECT_EQ(again.scenes[0].subject_tokens, story.scenes[0].subject_tokens);
  EXPECT_EQ(again.subjects[0].description, story.subjects[0].description);
}

TEST(CaseJson, WritesTheOfficialCaseNameForAStoryScene) {
  TempFolder folder;
  Story story;
  story.id = "tale";
  story.subjects = {{"Hansel", "boy", "A boy.", "a boy"}, {"Gretel", "girl", "A girl.", "a girl"},
                    {"Witch", "old woman", "A witch.", "a witch"}};
  Scene scene;
  scene.prompt = "Gretel and Hansel at the oven";
  scene.subjects = {1, 0};
  story.scenes = {scene, scene, scene, scene, scene, scene, scene, scene, scene, scene, scene, scene};
  write_official_case_json(story, 11, folder.path() / "case.json");
  const auto written = nlohmann::json::parse(core::read_file(folder.path() / "case.json"));
  EXPECT_EQ(written["test_case_name"], "11_girl_boy");
  EXPECT_EQ(written["subjects"][0]["subject_name"], "Gretel");
  EXPECT_EQ(written["scene"]["ref_token_idx"], nlohmann::json::parse("[[],[]]"));
  EXPECT_THROW(write_official_case_json(story, 12, folder.path() / "x.json"), core::RunError);
}

TEST(CaseJson, MalformedCasesNameFileLineAndField) {
  TempFolder folder;
  std::string bad = kExample;
  bad.replace(bad.find("\"ref_token_idx\": [[1, 2], [8, 9, 10]]"), 37, "\"ref_token_idx\": [[1, 2]]");
  const auto not_parallel = folder.write("1.json", bad);
  std::string no_prompt = kExample;
  no_prompt.replace(no_prompt.find("\"prompt\": \"A freckled boy with copper hair.\""), 44, "\"prompt\": 7");
  const auto wrong_type = folder.write("2.json", no_prompt);
  const auto duplicate = folder.write("3.json", kExample);  // same test_case_name as 4.json
  folder.write("4.json", kExample);
  const auto problems = validate_dataset(folder.path(), Layout::kOfficialCaseJson);
  ASSERT_EQ(problems.size(), 3u) << describe(problems);
  EXPECT_EQ(problems[0].where.file, not_parallel.string());
  EXPECT_EQ(problems[0].where.line, 25);
  EXPECT_EQ(problems[0].where.field, "scene.ref_token_idx");
  EXPECT_NE(problems[0].message.find("expected 2"), std::string::npos);
  EXPECT_EQ(problems[1].where.file, wrong_type.string());
  EXPECT_EQ(problems[1].where.line, 6);
  EXPECT_EQ(problems[1].where.field, "subjects[0].prompt");
  EXPECT_NE(problems[1].message.find("expected a string, found integer"), std::string::npos);
  EXPECT_EQ(problems[2].where.field, "id");
  EXPECT_NE(problems[2].message.find("duplicate story id 'example' (first at " + duplicate.string() + ":2)"),
            std::string::npos)
      << problems[2].to_string();
}

}  // namespace
}  // namespace dsbench::datasets
