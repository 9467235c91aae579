#include <gtest/gtest.h>

#include <filesystem>

#include "core/errors.h"
#include "harness/config/config.h"
#include "harness/planning/plan.h"

namespace dsbench::planning {
namespace {

datasets::Subject subject(const std::string& name) { return {name, "person", name + " portrait", name + " short"}; }

datasets::Scene scene(std::vector<int> subjects) {
  datasets::Scene scene;
  scene.prompt = "a scene";
  scene.subjects = std::move(subjects);
  return scene;
}

// Two annotated stories (2 subjects/3 scenes, 1 subject/2 scenes) and an unannotated one.
datasets::Dataset small_dataset() {
  datasets::Dataset dataset;
  datasets::Story first;
  first.id = "first";
  first.subjects = {subject("Ann"), subject("Bob")};
  first.scenes = {scene({0}), scene({0, 1}), scene({1})};
  datasets::Story second;
  second.id = "second";
  second.subjects = {subject("Cat")};
  second.scenes = {scene({0}), scene({0})};
  datasets::Story raw;
  raw.id = "raw";
  raw.annotated = false;
  raw.text = "Once upon a time.";
  dataset.stories = {first, second, raw};
  return dataset;
}

harness::RunConfig small_config() {
  harness::RunConfig config;
  config.hash = "abc";
  config.source = "test.yaml";
  config.systems = {{"plain", "vanilla", nlohmann::json::object(), "oracle"},
                    {"ours", "dreamstory", nlohmann::json::object(), "oracle"}};
  config.sampler.steps = 10;
  config.sampler.width = 512;
  config.sampler.height = 512;
  config.sampler.seeds = {0, 7};
  return config;
}

TEST(Plan, CountsEveryPortraitAndSceneForEverySystemStoryAndSeed) {
  const Plan plan = make_plan(small_config(), small_dataset());
  EXPECT_EQ(plan.groups.size(), 2u * 3u * 2u);
  // Annotated stories: (2 + 1) portraits and (3 + 2) scenes per seed; the raw story waits
  // for the director.
  EXPECT_EQ(plan.item_count("plain", ItemKind::kPortrait), 3u * 2u);
  EXPECT_EQ(plan.item_count("plain", ItemKind::kScene), 5u * 2u);
  EXPECT_EQ(plan.item_count("ours", ItemKind::kPortrait), 3u * 2u);
  EXPECT_EQ(plan.item_count("ours", ItemKind::kScene), 5u * 2u);
  EXPECT_EQ(plan.item_count(), 32u);
  EXPECT_FALSE(plan.all_items_known());
  EXPECT_EQ(plan.systems, (std::vector<std::string>{"plain", "ours"}));
  EXPECT_EQ(plan.stories, (std::vector<std::string>{"first", "second", "raw"}));
  EXPECT_EQ(plan.config_hash, "abc");
}

TEST(Plan, GroupsHoldPortraitsThenScenesWithStableKeys) {
  const Plan plan = make_plan(small_config(), small_dataset());
  const PlanGroup& group = plan.groups[1];  // plain / first / seed 7
  EXPECT_EQ(group.key(), "plain/first/seed-7");
  ASSERT_EQ(group.items.size(), 5u);
  EXPECT_EQ(group.items[0].key.to_string(), "plain/first/seed-7/portrait-0");
  EXPECT_EQ(group.items[0].label, "Ann");
  EXPECT_EQ(group.items[1].label, "Bob");
  EXPECT_EQ(group.items[3].key.to_string(), "plain/first/seed-7/scene-1");
  EXPECT_EQ(group.items[3].subjects, (std::vector<int>{0, 1}));
  for (const auto& item : group.items) EXPECT_EQ(item.key.group(), group.key());
  EXPECT_EQ(group.system_type, "vanilla");
  EXPECT_EQ(group.director, "oracle");
}

TEST(Plan, CostsFollowStepsPixelsSubjectsAndSystem) {
  harness::RunConfig config = small_config();
  EXPECT_DOUBLE_EQ(estimate_portrait_cost(config, "vanilla"), 10.0);
  EXPECT_DOUBLE_EQ(estimate_scene_cost(config, "vanilla", 2), 10.0 * 1.5);
  EXPECT_DOUBLE_EQ(estimate_scene_cost(config, "dreamstory", 2), 10.0 * 2.0 * 1.5);
  config.sampler.width = 256;
  EXPECT_DOUBLE_EQ(estimate_portrait_cost(config, "vanilla"), 5.0);

  const Plan plan = make_plan(small_config(), small_dataset());
  // plain/first/seed-0: 2 portraits (10 each), scenes with 1, 2, 1 subjects.
  EXPECT_DOUBLE_EQ(plan.groups[0].cost, 2 * 10.0 + 12.5 + 15.0 + 12.5);
  // The raw story is weighed as 3 subjects and 8 scenes.
  const PlanGroup& raw = plan.groups[4];
  ASSERT_EQ(raw.story, "raw");
  EXPECT_FALSE(raw.items_known);
  EXPECT_TRUE(raw.items.empty());
  EXPECT_DOUBLE_EQ(raw.cost, 3 * 10.0 + 8 * 17.5);
}

TEST(Plan, IsDeterministic) {
  const Plan a = make_plan(small_config(), small_dataset());
  const Plan b = make_plan(small_config(), small_dataset());
  ASSERT_EQ(a.groups.size(), b.groups.size());
  for (std::size_t g = 0; g < a.groups.size(); ++g) {
    ASSERT_EQ(a.groups[g].items.size(), b.groups[g].items.size());
    for (std::size_t i = 0; i < a.groups[g].items.size(); ++i) {
      EXPECT_EQ(a.groups[g].items[i].key, b.groups[g].items[i].key);
    }
  }
}

TEST(Plan, ExpandGroupTakesTheDirectorsPlanAndCutsScenes) {
  harness::RunConfig config = small_config();
  config.dataset.max_scenes = 2;
  Plan plan = make_plan(config, small_dataset());
  PlanGroup& raw = plan.groups[4];
  director::StoryPlan story_plan;
  story_plan.story_id = "raw";
  story_plan.subjects = {{"Dan", "man", "p", "s"}, {"Eve", "woman", "p", "s"}};
  story_plan.scenes = {{"a", {0}, ""}, {"b", {1, 0}, ""}, {"c", {1}, ""}};
  expand_group(config, story_plan, raw);
  EXPECT_TRUE(raw.items_known);
  ASSERT_EQ(raw.items.size(), 4u);
  EXPECT_EQ(raw.items[1].label, "Eve");
  EXPECT_EQ(raw.items[3].key.to_string(), "plain/raw/seed-0/scene-1");
  EXPECT_EQ(raw.items[3].subjects, (std::vector<int>{1, 0}));
  EXPECT_DOUBLE_EQ(raw.cost, 2 * 10.0 + 12.5 + 15.0);

  story_plan.story_id = "other";
  EXPECT_THROW(expand_group(config, story_plan, raw), core::RunError);
}

TEST(Plan, DuplicateSeedsAreAnInputError) {
  harness::RunConfig config = small_config();
  config.sampler.seeds = {3, 4, 3};
  try {
    make_plan(config, small_dataset());
    FAIL() << "expected an InputError";
  } catch (const core::InputError& error) {
    EXPECT_EQ(error.where().field, "sampler.seeds[2]");
    EXPECT_NE(std::string(error.what()).find("test.yaml"), std::string::npos);
  }
}

TEST(Plan, KindNamesRoundTrip) {
  EXPECT_EQ(parse_kind(kind_name(ItemKind::kPortrait)), ItemKind::kPortrait);
  EXPECT_EQ(parse_kind(kind_name(ItemKind::kScene)), ItemKind::kScene);
  EXPECT_THROW(parse_kind("mask"), core::RunError);
}

TEST(Plan, SmokeConfigSelectsThreeSampleStoriesWithTwoScenesEach) {
  const auto config = harness::load_config(std::filesystem::path(DSBENCH_SOURCE_DIR) / "configs/smoke.yaml");
  const datasets::Dataset selected = load_selected_dataset(config);
  ASSERT_EQ(selected.stories.size(), 3u);
  const Plan plan = make_plan(config, selected);
  std::size_t subjects = 0;
  for (const auto& story : selected.stories) {
    EXPECT_EQ(story.scenes.size(), 2u);
    subjects += story.subjects.size();
  }
  const std::size_t systems = config.systems.size();
  const std::size_t seeds = config.sampler.seeds.size();
  EXPECT_EQ(plan.item_count(), systems * seeds * (subjects + 3 * 2));
  EXPECT_TRUE(plan.all_items_known());
}

TEST(Plan, GeneratedDatasetsArePlannedToo) {
  harness::RunConfig config = small_config();
  config.dataset.format = "generated";
  config.dataset.generator = "scaling";
  config.dataset.generator_params = {{"subjects", 3}, {"stories", 2}, {"scenes", 4}, {"seed", 1}};
  const datasets::Dataset selected = load_selected_dataset(config);
  ASSERT_EQ(selected.stories.size(), 2u);
  const Plan plan = make_plan(config, selected);
  EXPECT_EQ(plan.item_count("plain", ItemKind::kPortrait), 2u * 3u * 2u);
  EXPECT_EQ(plan.item_count("plain", ItemKind::kScene), 2u * 4u * 2u);
}

}  // namespace
}  // namespace dsbench::planning
