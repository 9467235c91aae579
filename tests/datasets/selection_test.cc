#include <gtest/gtest.h>

#include "datasets/dataset.h"

namespace dsbench::datasets {
namespace {

Dataset three_categories() {
  Dataset dataset;
  dataset.name = "toy";
  const std::vector<std::pair<std::string, std::string>> stories = {
      {"hansel-and-gretel", "fairy-tale"}, {"fox-and-crow", "fable"}, {"snow-white", "fairy-tale"},
      {"tortoise-and-hare", "fable"},      {"real-1", "real-story"}};
  for (const auto& [id, category] : stories) {
    Story story;
    story.id = id;
    story.category = category;
    for (int i = 0; i < 5; ++i) story.scenes.push_back(Scene{"", "scene " + std::to_string(i), {}, "", {}, "", {}});
    dataset.stories.push_back(story);
  }
  return dataset;
}

std::vector<std::string> ids(const Dataset& dataset) {
  std::vector<std::string> out;
  for (const auto& story : dataset.stories) out.push_back(story.id);
  return out;
}

TEST(Selection, EmptySelectionKeepsEverythingInOrder) {
  const Dataset all = select(three_categories(), {});
  EXPECT_EQ(ids(all), ids(three_categories()));
  EXPECT_EQ(all.name, "toy");
}

TEST(Selection, IdsKeepDatasetOrderNotRequestOrder) {
  const Dataset picked = select(three_categories(), {.story_ids = {"snow-white", "fox-and-crow", "snow-white"}});
  EXPECT_EQ(ids(picked), (std::vector<std::string>{"fox-and-crow", "snow-white"}));
}

TEST(Selection, CategoriesThenLimitThenMaxScenes) {
  const Dataset fables = select(three_categories(), {.categories = {"fable"}});
  EXPECT_EQ(ids(fables), (std::vector<std::string>{"fox-and-crow", "tortoise-and-hare"}));
  const Dataset limited = select(three_categories(), {.categories = {"fairy-tale", "real-story"}, .limit = 2});
  EXPECT_EQ(ids(limited), (std::vector<std::string>{"hansel-and-gretel", "snow-white"}));
  const Dataset short_stories = select(three_categories(), {.limit = 1, .max_scenes = 2});
  ASSERT_EQ(short_stories.stories.size(), 1u);
  ASSERT_EQ(short_stories.stories[0].scenes.size(), 2u);
  EXPECT_EQ(short_stories.stories[0].scenes[1].prompt, "scene 1");
  const Dataset both = select(three_categories(), {.story_ids = {"fox-and-crow", "snow-white"}, .categories = {"fable"}});
  EXPECT_EQ(ids(both), (std::vector<std::string>{"fox-and-crow"}));
}

TEST(Selection, UnknownIdSuggestsTheNearest) {
  try {
    select(three_categories(), {.story_ids = {"fox-and-crow", "snow-whte"}});
    FAIL() << "expected InputError";
  } catch (const core::InputError& error) {
    EXPECT_EQ(error.where().field, "dataset.stories[1]");
    EXPECT_NE(std::string(error.what()).find("unknown story id 'snow-whte'"), std::string::npos) << error.what();
    EXPECT_NE(std::string(error.what()).find("(did you mean 'snow-white'?)"), std::string::npos) << error.what();
  }
}

TEST(Selection, UnknownCategoryAndNegativeNumbersAreInputErrors) {
  try {
    select(three_categories(), {.categories = {"fables"}});
    FAIL() << "expected InputError";
  } catch (const core::InputError& error) {
    EXPECT_EQ(error.where().field, "dataset.categories[0]");
    EXPECT_NE(std::string(error.what()).find("(did you mean 'fable'?)"), std::string::npos) << error.what();
  }
  EXPECT_THROW(select(three_categories(), {.limit = -1}), core::InputError);
  EXPECT_THROW(select(three_categories(), {.max_scenes = -3}), core::InputError);
}

TEST(Selection, LayoutNamesFromConfigs) {
  EXPECT_EQ(parse_layout("ds500"), Layout::kOfficialRelease);
  EXPECT_EQ(parse_layout("jsonl"), Layout::kJsonl);
  EXPECT_EQ(parse_layout("sample"), Layout::kJsonl);
  EXPECT_EQ(parse_layout("official-json"), Layout::kOfficialCaseJson);
  try {
    parse_layout("jsnl");
    FAIL();
  } catch (const core::InputError& error) {
    EXPECT_NE(std::string(error.what()).find("did you mean 'jsonl'"), std::string::npos) << error.what();
  }
}

}  // namespace
}  // namespace dsbench::datasets
