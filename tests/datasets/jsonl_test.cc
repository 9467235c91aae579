// Our JSONL form: reading, every kind of malformed line with file:line:field, round trip.
#include <gtest/gtest.h>

#include <algorithm>

#include "datasets/dataset.h"
#include "tests/datasets/temp_folder.h"

namespace dsbench::datasets {
namespace {

using testing::describe;
using testing::TempFolder;

// Two stories; lines 1 and 3 (line 2 is blank on purpose: blank lines are skipped).
const std::string kGood =
    R"({"id":"fox-and-crow","title":"The Fox and the Crow","category":"fable","text":"A crow sat in a tree.",)"
    R"("subjects":[{"name":"Reynard","kind":"fox","description":"A red fox.","short_description":"a red fox"},)"
    R"({"name":"Corva","kind":"crow","description":"A black crow.","short_description":"a black crow"}],)"
    R"("scenes":[{"text":"The crow held cheese.","prompt":"Corva holding cheese on a branch",)"
    R"("subjects":["Corva"],"rewritten_prompt":"a black crow holding cheese on a branch"},)"
    R"({"prompt":"Reynard looking up at Corva","subjects":[0,"Corva"],"subject_tokens":[[1],[5]]}]})"
    "\n\n"
    R"({"id":"raw-1","title":"Raw","category":"raw","text":"Once upon a time.","annotated":false})"
    "\n";

TEST(Jsonl, ReadsStoriesSubjectsAndScenes) {
  TempFolder folder;
  folder.write("stories.jsonl", kGood);
  folder.write("dataset.json", R"({"name": "tiny", "license": "CC0-1.0"})");
  EXPECT_EQ(detect_layout(folder.path()), Layout::kJsonl);
  const Dataset dataset = load_dataset(folder.path());
  EXPECT_EQ(dataset.name, "tiny");
  ASSERT_EQ(dataset.stories.size(), 2u);
  const Story& fable = dataset.stories[0];
  EXPECT_EQ(fable.id, "fox-and-crow");
  EXPECT_EQ(fable.category, "fable");
  ASSERT_EQ(fable.subjects.size(), 2u);
  EXPECT_EQ(fable.subjects[1].kind, "crow");
  ASSERT_EQ(fable.scenes.size(), 2u);
  EXPECT_EQ(fable.scenes[0].subjects, (std::vector<int>{1}));
  EXPECT_EQ(fable.scenes[1].subjects, (std::vector<int>{0, 1}));
  EXPECT_EQ(fable.scenes[1].subject_tokens, (std::vector<std::vector<int>>{{1}, {5}}));
  EXPECT_EQ(fable.scenes[0].rewritten_prompt, "a black crow holding cheese on a branch");
  EXPECT_EQ(fable.scenes[1].origin.line, 1);
  EXPECT_EQ(fable.scenes[1].origin.field, "scenes[1].prompt");
  EXPECT_FALSE(dataset.stories[1].annotated);
  EXPECT_EQ(dataset.stories[1].text, "Once upon a time.");
  // A stories.jsonl path works as the root too.
  EXPECT_EQ(load_dataset(folder.path() / "stories.jsonl").stories.size(), 2u);
}

struct Malformed {
  const char* name;
  std::string third_line;  // appended as line 3 after two good lines
  const char* field;
  const char* expected;
};

const std::string kGoodLine =
    R"({"id":"s1","title":"T","category":"fable","subjects":[{"name":"Ann","kind":"girl","description":"A girl.","short_description":"a girl"}],"scenes":[{"prompt":"Ann runs","subjects":["Ann"]}]})";

std::string story_line(const std::string& id, const std::string& subjects, const std::string& scenes) {
  return R"({"id":")" + id + R"(","category":"fable","subjects":)" + subjects + R"(,"scenes":)" + scenes + "}";
}
const std::string kAnn = R"([{"name":"Ann","kind":"girl","description":"A girl."}])";

class MalformedJsonl : public ::testing::TestWithParam<Malformed> {};

TEST_P(MalformedJsonl, NamesFileLineAndField) {
  const Malformed& c = GetParam();
  TempFolder folder;
  const std::string good2 = story_line("s2", kAnn, R"([{"prompt":"Ann sits","subjects":[0]}])");
  const auto file = folder.write("stories.jsonl", kGoodLine + "\n" + good2 + "\n" + c.third_line + "\n");
  const auto problems = validate_dataset(folder.path());
  ASSERT_FALSE(problems.empty()) << c.name;
  const auto found = std::find_if(problems.begin(), problems.end(),
                                  [&](const Problem& p) { return p.where.field == c.field; });
  ASSERT_NE(found, problems.end()) << describe(problems);
  EXPECT_EQ(found->where.file, file.string());
  EXPECT_EQ(found->where.line, 3);
  EXPECT_NE(found->message.find(c.expected), std::string::npos) << found->to_string();
  try {
    load_dataset(folder.path());
    FAIL() << "expected InputError";
  } catch (const core::InputError& error) {
    const std::string what = error.what();
    EXPECT_NE(what.find(file.string() + ":3: "), std::string::npos) << what;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, MalformedJsonl,
    ::testing::Values(
        Malformed{"DuplicateStoryId", story_line("s1", kAnn, R"([{"prompt":"Ann","subjects":[]}])"), "id",
                  "duplicate story id 's1'"},
        Malformed{"UnknownSubjectName", story_line("s3", kAnn, R"([{"prompt":"Anne waves","subjects":["Anne"]}])"),
                  "scenes[0].subjects[0]", "unknown subject 'Anne' (did you mean 'Ann'?)"},
        Malformed{"SubjectIndexOutOfRange", story_line("s3", kAnn, R"([{"prompt":"x","subjects":[1]}])"),
                  "scenes[0].subjects[0]", "subject index 1 out of range; expected 0..0"},
        Malformed{"EmptyPrompt", story_line("s3", kAnn, R"([{"prompt":"","subjects":[0]}])"),
                  "scenes[0].prompt", "non-empty"},
        Malformed{"MissingPrompt", story_line("s3", kAnn, R"([{"subjects":[0]}])"), "scenes[0].prompt",
                  "missing"},
        Malformed{"WrongTypeForScenes", story_line("s3", kAnn, R"("one scene")"), "scenes",
                  "expected a list, found string"},
        Malformed{"WrongTypeForSubjectEntry", story_line("s3", kAnn, R"([{"prompt":"x","subjects":[true]}])"),
                  "scenes[0].subjects[0]", "found boolean"},
        Malformed{"UnknownKeyWithHint", R"({"id":"s3","category":"fable","subjects":[],"scnes":[]})", "scnes",
                  "(did you mean 'scenes'?)"},
        Malformed{"MissingId", story_line("", kAnn, R"([{"prompt":"x"}])"), "id", "non-empty"},
        Malformed{"DuplicateSubjectName",
                  story_line("s3", R"([{"name":"Ann","kind":"girl","description":"d"},{"name":"Ann","kind":"cat","description":"d"}])",
                             R"([{"prompt":"x"}])"),
                  "subjects[1].name", "duplicate subject name 'Ann'"},
        Malformed{"MissingSubjectDescription", story_line("s3", R"([{"name":"Ann","kind":"girl"}])", R"([{"prompt":"x"}])"),
                  "subjects[0].description", "missing"},
        Malformed{"NoScenes", story_line("s3", kAnn, "[]"), "scenes", "at least one scene"},
        Malformed{"TokenListsNotParallel",
                  story_line("s3", kAnn, R"([{"prompt":"Ann","subjects":["Ann"],"subject_tokens":[[1],[2]]}])"),
                  "scenes[0].subject_tokens", "expected 1"},
        Malformed{"RawStoryWithScenes",
                  R"({"id":"s3","text":"t","annotated":false,"scenes":[{"prompt":"x"}]})", "annotated",
                  "expected a raw story"},
        Malformed{"SyntaxError", R"({"id":"s3", "scenes": [})", "", "invalid JSON"},
        Malformed{"NotAnObject", R"(["s3"])", "", "expected an object, found array"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(Jsonl, InvalidUtf8NamesLineAndOffset) {
  TempFolder folder;
  const auto file = folder.write("stories.jsonl", kGoodLine + "\n" +
                                                      R"({"id":"s2","text":"caf)" + std::string("\xE9") +
                                                      R"(","annotated":false})" + "\n");
  const auto problems = validate_dataset(folder.path());
  ASSERT_EQ(problems.size(), 1u) << describe(problems);
  EXPECT_EQ(problems[0].where.file, file.string());
  EXPECT_EQ(problems[0].where.line, 2);
  const std::string offset = std::to_string(kGoodLine.size() + 1 + 22);  // file offset of \xE9
  EXPECT_NE(problems[0].message.find("invalid UTF-8 at byte offset " + offset), std::string::npos)
      << problems[0].to_string();
}

TEST(Jsonl, ListsEveryProblemAtOnce) {
  TempFolder folder;
  folder.write("stories.jsonl",
               story_line("a", kAnn, R"([{"prompt":"","subjects":["Bob"]}])") + "\n" +
                   story_line("a", kAnn, R"([{"prompt":"x","subjects":[3]}])") + "\n{broken\n");
  const auto problems = validate_dataset(folder.path());
  // line 1: empty prompt, unknown subject; line 2: index out of range; line 3: syntax.
  ASSERT_EQ(problems.size(), 4u) << describe(problems);
  EXPECT_EQ(problems[0].where.line, 1);
  EXPECT_EQ(problems[1].where.line, 1);
  EXPECT_EQ(problems[2].where.line, 2);
  EXPECT_EQ(problems[3].where.line, 3);
}

TEST(Jsonl, EmptyDatasetIsAProblem) {
  TempFolder folder;
  folder.write("stories.jsonl", "\n\n");
  const auto problems = validate_dataset(folder.path());
  ASSERT_EQ(problems.size(), 1u) << describe(problems);
  EXPECT_NE(problems[0].message.find("empty dataset"), std::string::npos);
  EXPECT_THROW(load_dataset(folder.path()), core::InputError);
}

TEST(Jsonl, BadDatasetJsonIsAProblem) {
  TempFolder folder;
  folder.write("stories.jsonl", kGoodLine + "\n");
  const auto meta = folder.write("dataset.json", "{\n  \"name\": 3\n}\n");
  const auto problems = validate_dataset(folder.path());
  ASSERT_EQ(problems.size(), 1u) << describe(problems);
  EXPECT_EQ(problems[0].where.file, meta.string());
  EXPECT_EQ(problems[0].where.line, 2);
  EXPECT_EQ(problems[0].where.field, "name");
}

void expect_same_stories(const Dataset& a, const Dataset& b) {
  ASSERT_EQ(a.stories.size(), b.stories.size());
  for (std::size_t s = 0; s < a.stories.size(); ++s) {
    const Story& x = a.stories[s];
    const Story& y = b.stories[s];
    EXPECT_EQ(x.id, y.id);
    EXPECT_EQ(x.title, y.title);
    EXPECT_EQ(x.category, y.category);
    EXPECT_EQ(x.text, y.text);
    EXPECT_EQ(x.annotated, y.annotated);
    ASSERT_EQ(x.subjects.size(), y.subjects.size());
    for (std::size_t i = 0; i < x.subjects.size(); ++i) {
      EXPECT_EQ(x.subjects[i].name, y.subjects[i].name);
      EXPECT_EQ(x.subjects[i].kind, y.subjects[i].kind);
      EXPECT_EQ(x.subjects[i].description, y.subjects[i].description);
      EXPECT_EQ(x.subjects[i].short_description, y.subjects[i].short_description);
    }
    ASSERT_EQ(x.scenes.size(), y.scenes.size());
    for (std::size_t i = 0; i < x.scenes.size(); ++i) {
      EXPECT_EQ(x.scenes[i].text, y.scenes[i].text);
      EXPECT_EQ(x.scenes[i].prompt, y.scenes[i].prompt);
      EXPECT_EQ(x.scenes[i].subjects, y.scenes[i].subjects);
      EXPECT_EQ(x.scenes[i].rewritten_prompt, y.scenes[i].rewritten_prompt);
      EXPECT_EQ(x.scenes[i].subject_tokens, y.scenes[i].subject_tokens);
    }
  }
}

TEST(Jsonl, RoundTripPreservesEveryField) {
  TempFolder folder;
  folder.write("in/stories.jsonl", kGood);
  const Dataset original = load_dataset(folder.path() / "in");
  write_jsonl_dataset(original, folder.path() / "out");
  const Dataset again = load_dataset(folder.path() / "out");
  EXPECT_EQ(again.name, "in");
  expect_same_stories(original, again);
  // Writing the re-read dataset gives the same bytes.
  EXPECT_EQ(story_to_jsonl_line(original.stories[0]), story_to_jsonl_line(again.stories[0]));
  EXPECT_EQ(story_to_jsonl_line(original.stories[1]),
            R"({"id":"raw-1","title":"Raw","category":"raw","text":"Once upon a time.","annotated":false})");
}

TEST(Jsonl, WritingABrokenStoryIsARunError) {
  Story story;
  story.id = "broken";
  story.scenes.push_back(Scene{"", "x", {2}, "", {}, "", {}});
  EXPECT_THROW(story_to_jsonl_line(story), core::RunError);
  EXPECT_THROW(write_official_case_json(story, 0, "unused.json"), core::RunError);
}

TEST(Jsonl, RoundTripOfAGeneratedDataset) {
  TempFolder folder;
  const Dataset generated = generate_scaling_dataset({.subjects = 7, .stories = 3, .scenes = 5, .seed = 11});
  write_jsonl_dataset(generated, folder.path());
  const Dataset again = load_dataset(folder.path());
  EXPECT_EQ(again.name, generated.name);
  expect_same_stories(generated, again);
}

}  // namespace
}  // namespace dsbench::datasets
