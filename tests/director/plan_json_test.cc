#include <gtest/gtest.h>

#include "core/errors.h"
#include "pipeline/director/plan_json.h"

namespace dsbench::director {
namespace {

using nlohmann::json;

json valid_answer() {
  return json::parse(R"({
    "version": 1,
    "subjects": [
      {"name": "Hansel", "kind": "boy", "description": "a boy, full body", "short_description": "a boy in green"},
      {"name": "Gretel", "kind": "girl", "description": "a girl, full body", "short_description": "a girl with braids"}
    ],
    "scenes": [
      {"prompt": "Hansel and Gretel in the forest", "subjects": ["Hansel", "gretel"],
       "rewritten_prompt": "a boy in green and a girl with braids in the forest"},
      {"prompt": "an empty house", "subjects": [], "rewritten_prompt": "an empty house"}
    ]})");
}

PlanParseResult parse(const json& answer, std::size_t scenes = 2) {
  return parse_story_plan(answer.dump(), "hg", PlanExpectations{.scene_count = scenes});
}

std::string problems_of(const PlanParseResult& result) { return result.error_message(); }

TEST(PlanJson, SchemaIsCompiledInAndVersioned) {
  EXPECT_EQ(story_plan_schema_version(), 1);
  EXPECT_TRUE(story_plan_schema().contains("properties"));
  EXPECT_NE(story_plan_schema_text().find("rewritten_prompt"), std::string_view::npos);
}

TEST(PlanJson, ValidAnswerParsesIntoPlanWithIndices) {
  const PlanParseResult result = parse(valid_answer());
  ASSERT_TRUE(result.ok) << problems_of(result);
  EXPECT_EQ(result.plan.story_id, "hg");
  ASSERT_EQ(result.plan.subjects.size(), 2u);
  EXPECT_EQ(result.plan.subjects[1].name, "Gretel");
  EXPECT_EQ(result.plan.subjects[1].kind, "girl");
  EXPECT_EQ(result.plan.subjects[1].portrait_prompt, "a girl, full body");
  EXPECT_EQ(result.plan.subjects[1].short_prompt, "a girl with braids");
  ASSERT_EQ(result.plan.scenes.size(), 2u);
  EXPECT_EQ(result.plan.scenes[0].subjects, (std::vector<int>{0, 1}));  // "gretel" matched case-insensitively
  EXPECT_TRUE(result.plan.scenes[1].subjects.empty());
  EXPECT_EQ(result.plan.scenes[0].rewritten_prompt, "a boy in green and a girl with braids in the forest");
}

TEST(PlanJson, RoundTripsThroughJson) {
  const PlanParseResult first = parse(valid_answer());
  ASSERT_TRUE(first.ok);
  const PlanParseResult second = parse(story_plan_to_json(first.plan));
  ASSERT_TRUE(second.ok) << problems_of(second);
  EXPECT_EQ(second.plan.scenes[0].subjects, first.plan.scenes[0].subjects);
  EXPECT_EQ(story_plan_to_json(second.plan), story_plan_to_json(first.plan));
}

TEST(PlanJson, MarkdownFenceIsTolerated) {
  const std::string fenced = "```json\n" + valid_answer().dump(2) + "\n```\n";
  EXPECT_TRUE(parse_story_plan(fenced, "hg", {.scene_count = 2}).ok);
}

TEST(PlanJson, MalformedJsonNamesTheByte) {
  const PlanParseResult result = parse_story_plan("{\"subjects\": [,]}", "hg", {});
  ASSERT_FALSE(result.ok);
  ASSERT_EQ(result.problems.size(), 1u);
  EXPECT_EQ(result.problems[0].path, "$");
  EXPECT_NE(result.problems[0].message.find("not valid JSON at byte 15 of 17"), std::string::npos)
      << result.problems[0].message;
}

TEST(PlanJson, TruncatedAnswerSaysSo) {
  const std::string full = valid_answer().dump();
  const PlanParseResult result = parse_story_plan(full.substr(0, full.size() / 2), "hg", {});
  ASSERT_FALSE(result.ok);
  EXPECT_NE(result.error_message().find("truncated"), std::string::npos) << result.error_message();
}

TEST(PlanJson, ProseAroundTheObjectIsRejected) {
  const PlanParseResult result = parse_story_plan("Sure! " + valid_answer().dump(), "hg", {});
  ASSERT_FALSE(result.ok);
  EXPECT_NE(result.error_message().find("not valid JSON at byte"), std::string::npos);
}

TEST(PlanJson, EmptyAnswer) {
  const PlanParseResult result = parse_story_plan("  \n", "hg", {});
  ASSERT_FALSE(result.ok);
  EXPECT_EQ(result.error_message(), "$: the answer is empty; expected one JSON object");
}

TEST(PlanJson, SchemaViolationsCarryPaths) {
  json answer = valid_answer();
  answer["subjects"][1].erase("kind");
  answer["subjects"][0]["short_description"] = "";
  answer["scenes"][0]["subjects"] = "Hansel";
  answer["scenes"][1]["mood"] = "dark";
  answer["version"] = 2;
  const PlanParseResult result = parse(answer);
  ASSERT_FALSE(result.ok);
  const std::string message = result.error_message();
  EXPECT_NE(message.find("$.version: expected the value 1, found 2"), std::string::npos) << message;
  EXPECT_NE(message.find("$.subjects[0].short_description: must not be empty"), std::string::npos) << message;
  EXPECT_NE(message.find("$.subjects[1]: missing required field \"kind\""), std::string::npos) << message;
  EXPECT_NE(message.find("$.scenes[0].subjects: expected array, found string \"Hansel\""), std::string::npos)
      << message;
  EXPECT_NE(message.find("$.scenes[1].mood: unexpected field"), std::string::npos) << message;
  EXPECT_EQ(result.problems.size(), 5u) << message;
}

TEST(PlanJson, RootMustBeAnObjectWithScenes) {
  EXPECT_EQ(parse(json::array()).error_message(), "$: expected object, found array []");
  json answer = valid_answer();
  answer["scenes"] = json::array();
  const PlanParseResult result = parse(answer, 0);
  EXPECT_EQ(result.error_message(), "$.scenes: expected at least 1 items, found 0");
}

TEST(PlanJson, UnknownSceneSubjectGetsDidYouMean) {
  json answer = valid_answer();
  answer["scenes"][0]["subjects"] = {"Hansel", "Gretl"};
  const PlanParseResult result = parse(answer);
  ASSERT_FALSE(result.ok);
  EXPECT_EQ(result.error_message(),
            "$.scenes[0].subjects[1]: \"Gretl\" is not one of the subjects (did you mean 'Gretel'?); "
            "subjects are: Hansel, Gretel");
}

TEST(PlanJson, DuplicateSubjectsAndSceneSubjects) {
  json answer = valid_answer();
  answer["subjects"][1]["name"] = "HANSEL";
  answer["scenes"][0]["subjects"] = {"Hansel", "hansel"};
  const PlanParseResult result = parse(answer);
  ASSERT_FALSE(result.ok);
  const std::string message = result.error_message();
  EXPECT_NE(message.find("$.subjects[1].name: \"HANSEL\" repeats subjects[0]"), std::string::npos) << message;
  EXPECT_NE(message.find("$.scenes[0].subjects[1]: \"hansel\" is listed twice"), std::string::npos) << message;
}

TEST(PlanJson, SceneCountMustMatchTheStory) {
  EXPECT_EQ(parse(valid_answer(), 3).error_message(),
            "$.scenes: expected exactly 3 scenes (one per passage, in order), found 2");
  const auto bounded = parse_story_plan(valid_answer().dump(), "hg", {.scene_count = 0, .max_scenes = 1});
  EXPECT_EQ(bounded.error_message(), "$.scenes: expected at most 1 scenes, found 2");
  EXPECT_TRUE(parse_story_plan(valid_answer().dump(), "hg", {.scene_count = 0, .max_scenes = 0}).ok);
}

TEST(PlanJson, ErrorMessageIsBounded) {
  PlanParseResult result;
  for (int i = 0; i < 5; ++i) result.problems.push_back({"$", "p" + std::to_string(i)});
  EXPECT_EQ(result.error_message(2), "$: p0\n$: p1\n... and 3 more problems");
}

TEST(SchemaValidator, GenericKeywords) {
  const json schema = json::parse(R"({"type": ["integer", "null"], "enum": [1, 2, null]})");
  EXPECT_TRUE(validate_against_schema(1, schema).empty());
  EXPECT_TRUE(validate_against_schema(nullptr, schema).empty());
  EXPECT_EQ(validate_against_schema(3, schema).at(0).to_string(), "$: expected one of [1,2,null], found 3");
  EXPECT_EQ(validate_against_schema(1.5, schema).at(0).to_string(), "$: expected integer or null, found number 1.5");
  const json unique = json::parse(R"({"type": "array", "uniqueItems": true, "maxItems": 2})");
  const auto problems = validate_against_schema(json::array({1, 1, 1}), unique);
  ASSERT_EQ(problems.size(), 3u);
  EXPECT_EQ(problems[0].message, "expected at most 2 items, found 3");
  EXPECT_EQ(problems[1].path, "$[1]");
}

TEST(SchemaValidator, UnsupportedKeywordIsAnInputError) {
  EXPECT_THROW(validate_against_schema("x", json::parse(R"({"pattern": "^a"})")), core::InputError);
}

}  // namespace
}  // namespace dsbench::director
