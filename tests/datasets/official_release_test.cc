// The DS-500 release layout: the shared development copy (when present) with its true
// counts, and malformed synthetic/real-story files written by the tests.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "datasets/dataset.h"
#include "tests/datasets/temp_folder.h"

namespace dsbench::datasets {
namespace {

namespace fs = std::filesystem;
using testing::describe;
using testing::TempFolder;

fs::path shared_release() { return fs::path(DSBENCH_SHARED_DIR) / "data" / "ds500"; }

// Counts measured on the shared copy (commit 91e1a4b of hehuiguo/DreamStory). The issue
// text says 100 cases per synthetic file; the released files differ: no_subject has 150
// scenes, 1-subject 117, 2- and 3-subject 100 each; Real-Stories-100 holds 202 files.
TEST(OfficialRelease, FullSharedCopyLoadsWithTrueCounts) {
  if (!fs::exists(shared_release())) GTEST_SKIP() << "no shared DS-500 copy at " << shared_release();
  EXPECT_EQ(detect_layout(shared_release()), Layout::kOfficialRelease);
  const Dataset dataset = load_dataset(shared_release());
  ASSERT_EQ(dataset.stories.size(), 4u + 202u);

  const std::vector<std::string> synthetic_ids = {"synthetic-no-subject", "synthetic-1-subject",
                                                  "synthetic-2-subject", "synthetic-3-subject"};
  const std::vector<std::size_t> scene_counts = {150, 117, 100, 100};
  const std::vector<std::size_t> pool_sizes = {16, 133, 16, 15};
  for (std::size_t k = 0; k < 4; ++k) {
    const Story& story = dataset.stories[k];
    EXPECT_EQ(story.id, synthetic_ids[k]);
    EXPECT_EQ(story.category, synthetic_ids[k]);
    EXPECT_TRUE(story.annotated);
    EXPECT_EQ(story.scenes.size(), scene_counts[k]) << story.id;
    EXPECT_EQ(story.subjects.size(), pool_sizes[k]) << story.id;
    for (const Scene& scene : story.scenes) {
      EXPECT_EQ(scene.subjects.size(), k) << story.id;
      EXPECT_FALSE(scene.prompt.empty());
    }
  }
  std::size_t total_scenes = 0;
  for (std::size_t k = 0; k < 4; ++k) total_scenes += dataset.stories[k].scenes.size();
  EXPECT_EQ(total_scenes, 467u);

  // Spot values, checked by hand against the JSON.
  const Story& two = dataset.stories[2];
  EXPECT_EQ(two.subjects[0].name, "00_chef");
  EXPECT_EQ(two.subjects[0].kind, "chef");
  EXPECT_EQ(two.subjects[0].short_description, "jolly plump chef with white hat and stained apron.");
  EXPECT_EQ(two.scenes[0].subjects, (std::vector<int>{6, 10}));
  EXPECT_EQ(two.scenes[0].case_name, "00_boy_pirate");
  EXPECT_TRUE(two.scenes[0].prompt.starts_with("A young boy with glasses and a bearded pirate"));
  EXPECT_EQ(two.scenes[0].origin.line, 58);  // the prompt string inside its list
  EXPECT_EQ(two.scenes[0].origin.field, "scene_prompts_list[0][0]");
  EXPECT_EQ(dataset.stories[0].scenes[3].origin.field, "scene_prompts_list[3]");
  EXPECT_EQ(dataset.stories[1].subjects[0].name, "00_Boy");
  EXPECT_EQ(dataset.stories[1].scenes[0].subjects, (std::vector<int>{86}));
  EXPECT_TRUE(dataset.stories[0].scenes[0].prompt.starts_with("A serene lake at sunset"));
  EXPECT_TRUE(dataset.stories[0].scenes[0].subjects.empty());

  // Real stories: numeric order, raw, UTF-8 (typographic quotes kept as read).
  std::set<std::string> ids;
  long long previous = -1;
  for (std::size_t i = 4; i < dataset.stories.size(); ++i) {
    const Story& story = dataset.stories[i];
    EXPECT_EQ(story.category, "real-story");
    EXPECT_FALSE(story.annotated);
    EXPECT_TRUE(story.subjects.empty());
    EXPECT_TRUE(story.scenes.empty());
    EXPECT_FALSE(story.text.empty());
    EXPECT_GT(std::stoll(story.id), previous);
    previous = std::stoll(story.id);
    ids.insert(story.id);
  }
  EXPECT_EQ(ids.size(), 202u);
  EXPECT_EQ(dataset.stories[4].id, "3200");
  EXPECT_EQ(dataset.stories[4].title, "Norris-Frank-The-Wife-of-Chino-short-stories");
  EXPECT_TRUE(dataset.stories[4].text.starts_with("The Wife of Chino\nFrank Norris"));
  EXPECT_TRUE(dataset.stories[5].text.starts_with("An Actor\xE2\x80\x99s End"));
  EXPECT_EQ(dataset.stories.back().id, "8827");
  EXPECT_TRUE(validate_dataset(shared_release()).empty()) << describe(validate_dataset(shared_release()));
}

TEST(OfficialRelease, SubfoldersLoadOnTheirOwn) {
  if (!fs::exists(shared_release())) GTEST_SKIP() << "no shared DS-500 copy";
  EXPECT_EQ(load_dataset(shared_release() / "Synthetic-Cases-400").stories.size(), 4u);
  EXPECT_EQ(load_dataset(shared_release() / "Real-Stories-100").stories.size(), 202u);
  EXPECT_EQ(load_dataset(shared_release().string() + "/").stories.size(), 206u);
}

constexpr const char* kGoodTwoSubject = R"({
    "character_type_list": ["boy", "cat", "lamp"],
    "character_short_prompts_list": ["freckled boy", "white cat", "brass lamp"],
    "character_prompts_list": ["A freckled boy.", "A white cat.", "A brass lamp."],
    "scene_prompts_list": [
        ["A freckled boy feeds a white cat."],
        ["A white cat sleeps by a brass lamp."]
    ],
    "scene_character_list": [
        [0, 1],
        [1, 2]
    ]
}
)";

TEST(OfficialRelease, SmallReleaseReadsBothPromptForms) {
  TempFolder folder;
  folder.write("Synthetic-Cases-400/2-subject_meta.json", kGoodTwoSubject);
  folder.write("Synthetic-Cases-400/no_subject_meta.json", R"({
    "character_type_list": [], "character_short_prompts_list": [], "character_prompts_list": [],
    "scene_prompts_list": ["An empty beach."], "scene_character_list": [[]]})");
  folder.write("Real-Stories-100/12_Small-Tale.txt", "Small Tale\nOnce upon a time.\n");
  folder.write("Real-Stories-100/3_Other.txt", "Other\n");
  const Dataset dataset = load_dataset(folder.path());
  ASSERT_EQ(dataset.stories.size(), 4u);
  EXPECT_EQ(dataset.stories[0].id, "synthetic-no-subject");
  EXPECT_EQ(dataset.stories[0].scenes[0].prompt, "An empty beach.");
  EXPECT_EQ(dataset.stories[1].id, "synthetic-2-subject");
  EXPECT_EQ(dataset.stories[1].subjects[2].name, "02_lamp");
  EXPECT_EQ(dataset.stories[1].scenes[1].subjects, (std::vector<int>{1, 2}));
  EXPECT_EQ(dataset.stories[1].scenes[1].case_name, "01_cat_lamp");
  EXPECT_EQ(dataset.stories[1].scenes[1].origin.line, 7);
  EXPECT_EQ(dataset.stories[2].id, "3");  // numeric order: 3 before 12
  EXPECT_EQ(dataset.stories[3].id, "12");
  EXPECT_EQ(dataset.stories[3].title, "Small-Tale");
}

TEST(OfficialRelease, ByteOrderMarkKeepsLineNumbers) {
  TempFolder folder;
  folder.write("Synthetic-Cases-400/2-subject_meta.json", std::string("\xEF\xBB\xBF") + kGoodTwoSubject);
  const Dataset dataset = load_dataset(folder.path());
  ASSERT_EQ(dataset.stories.size(), 1u);
  EXPECT_EQ(dataset.stories[0].scenes[1].origin.line, 7);
  EXPECT_EQ(dataset.stories[0].scenes[1].origin.field, "scene_prompts_list[1][0]");
}

struct Malformed {
  const char* name;
  std::string two_subject_json;
  int line;
  const char* field;
  const char* expected;  // a fragment of the message
};

class MalformedSynthetic : public ::testing::TestWithParam<Malformed> {};

TEST_P(MalformedSynthetic, NamesFileLineAndField) {
  const Malformed& c = GetParam();
  TempFolder folder;
  const auto file = folder.write("Synthetic-Cases-400/2-subject_meta.json", c.two_subject_json);
  const auto problems = validate_dataset(folder.path());
  ASSERT_FALSE(problems.empty());
  const auto found = std::find_if(problems.begin(), problems.end(), [&](const Problem& p) {
    return p.where.field == c.field;
  });
  ASSERT_NE(found, problems.end()) << describe(problems);
  EXPECT_EQ(found->where.file, file.string());
  EXPECT_EQ(found->where.line, c.line) << found->to_string();
  EXPECT_NE(found->message.find(c.expected), std::string::npos) << found->to_string();
  // load_dataset throws the first problem with the same location.
  try {
    load_dataset(folder.path());
    FAIL() << "expected InputError";
  } catch (const core::InputError& error) {
    EXPECT_NE(std::string(error.what()).find(file.string()), std::string::npos) << error.what();
    EXPECT_EQ(error.code(), core::ExitCode::kInputError);
  }
}

std::string replaced(std::string text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return text.replace(at, from.size(), to);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, MalformedSynthetic,
    ::testing::Values(
        Malformed{"UnequalCharacterLists",
                  replaced(kGoodTwoSubject, R"(, "A brass lamp.")", ""), 4,
                  "character_prompts_list", "expected 3 (parallel to character_type_list)"},
        Malformed{"IndexOutOfRange", replaced(kGoodTwoSubject, "[1, 2]", "[1, 7]"), 11,
                  "scene_character_list[1][1]", "character index 7 out of range; expected 0..2"},
        Malformed{"WrongSubjectCountForFile", replaced(kGoodTwoSubject, "[0, 1]", "[0]"), 10,
                  "scene_character_list[0]", "expected 2"},
        Malformed{"EmptyScenePrompt",
                  replaced(kGoodTwoSubject, R"("A white cat sleeps by a brass lamp.")", R"("  ")"), 7,
                  "scene_prompts_list[1][0]", "non-empty scene prompt"},
        Malformed{"WrongTypeInTypeList", replaced(kGoodTwoSubject, R"("cat", "lamp"])", R"(5, "lamp"])"), 2,
                  "character_type_list[1]", "expected a string, found integer"},
        Malformed{"UnequalSceneLists", replaced(kGoodTwoSubject, ",\n        [1, 2]", ""), 9,
                  "scene_character_list", "expected 2 (parallel to scene_prompts_list)"},
        Malformed{"MissingList",
                  replaced(kGoodTwoSubject, R"("character_type_list": ["boy", "cat", "lamp"],)", ""), 1,
                  "character_type_list", "missing"},
        Malformed{"TwoPromptsInOneScene",
                  replaced(kGoodTwoSubject, R"(["A freckled boy feeds a white cat."])",
                           R"(["one", "two"])"),
                  6, "scene_prompts_list[0]", "expected one scene prompt"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(OfficialRelease, SyntaxErrorNamesTheLine) {
  TempFolder folder;
  const auto file = folder.write("Synthetic-Cases-400/2-subject_meta.json",
                                 replaced(kGoodTwoSubject, "[1, 2]\n", "[1, 2\n"));
  const auto problems = validate_dataset(folder.path());
  ASSERT_EQ(problems.size(), 1u) << describe(problems);
  EXPECT_EQ(problems[0].where.file, file.string());
  EXPECT_EQ(problems[0].where.line, 13);  // the parser notices at the closing brace
  EXPECT_NE(problems[0].message.find("invalid JSON"), std::string::npos);
}

TEST(OfficialRelease, InvalidUtf8InARealStoryNamesFileAndOffset) {
  TempFolder folder;
  folder.write("Real-Stories-100/1_Good.txt", "Fine text \xE2\x80\x99 here.\n");
  const auto bad = folder.write("Real-Stories-100/2_Bad.txt", "line one\nline two \xC3\x28 oops\n");
  const auto problems = validate_dataset(folder.path());
  ASSERT_EQ(problems.size(), 1u) << describe(problems);
  EXPECT_EQ(problems[0].where.file, bad.string());
  EXPECT_EQ(problems[0].where.line, 2);
  EXPECT_NE(problems[0].message.find("invalid UTF-8 at byte offset 18"), std::string::npos)
      << problems[0].to_string();
}

TEST(OfficialRelease, EveryProblemAtOnce) {
  TempFolder folder;
  std::string broken = replaced(kGoodTwoSubject, "[1, 2]", "[1, 9]");
  broken = replaced(broken, R"(["A freckled boy feeds a white cat."])", R"([""])");
  folder.write("Synthetic-Cases-400/2-subject_meta.json", broken);
  folder.write("Synthetic-Cases-400/notes.json", "{}");
  folder.write("Real-Stories-100/x_NoId.txt", "text");
  folder.write("Real-Stories-100/5_Empty.txt", "  \n");
  const auto problems = validate_dataset(folder.path());
  EXPECT_EQ(problems.size(), 5u) << describe(problems);
}

TEST(OfficialRelease, NotADatasetIsOneProblem) {
  TempFolder folder;
  folder.write("readme.txt", "nothing here");
  const auto problems = validate_dataset(folder.path());
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].where.file, folder.path().string());
  EXPECT_THROW(load_dataset(folder.path()), core::InputError);
  EXPECT_THROW(load_dataset(folder.path() / "missing"), core::InputError);
}

}  // namespace
}  // namespace dsbench::datasets
