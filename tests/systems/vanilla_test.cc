#include "pipeline/systems/vanilla.h"

#include <gtest/gtest.h>

#include "core/errors.h"
#include "pipeline/systems/registry.h"

namespace dsbench::systems {
namespace {

ModelSettings tiny_model() {
  ModelSettings model;
  model.profile = "tiny";
  model.threads = 1;
  model.sampler.steps = 2;
  model.sampler.width = 64;
  model.sampler.height = 64;
  return model;
}

director::StoryPlan plan() {
  director::StoryPlan story;
  story.story_id = "test-story";
  story.subjects = {{"Gretel", "girl", "a girl with red braids, portrait", "a red-braided girl"}};
  story.scenes = {{"Gretel walks into the forest", {0}, "a red-braided girl walks into the forest"},
                  {"a gingerbread house in a clearing", {}, ""}};
  return story;
}

std::string input_error(const std::function<void()>& action) {
  try {
    action();
  } catch (const core::InputError& e) {
    return e.what();
  }
  return "";
}

TEST(SystemsRegistryTest, ListsOnlyImplementedSystemsAndSuggestsNames) {
  EXPECT_EQ(system_types(), (std::vector<std::string>{"consistory", "dreamstory", "dreamstory-no-masks", "dreamstory-no-mmca",
                                                      "dreamstory-no-mmsa", "dreamstory-no-rewrite", "storydiffusion",
                                                      "vanilla"}));
  const auto message = input_error([] { create_system("vanila", nlohmann::json::object(), tiny_model()); });
  EXPECT_NE(message.find("did you mean 'vanilla'"), std::string::npos) << message;
  EXPECT_FALSE(input_error([] { create_system("dreamstory-xl", nlohmann::json::object(), tiny_model()); }).empty());
}

TEST(VanillaTest, ScenesAreDeterministicPerSeed) {
  auto system = create_system("vanilla", nlohmann::json::object(), tiny_model());
  EXPECT_EQ(system->name(), "vanilla");
  const auto story = plan();
  const SceneRequest request{&story, 0, 7, {}};
  const auto first = system->scene(request);
  const auto second = system->scene(request);
  EXPECT_EQ(first.image.width, 64);
  EXPECT_TRUE(first.image == second.image);
  EXPECT_EQ(first.info["prompt"], "a red-braided girl walks into the forest");
  const auto other = system->scene({&story, 0, 8, {}});
  EXPECT_FALSE(first.image == other.image);
  const auto portrait = system->portrait({&story, 0, 7});
  EXPECT_EQ(portrait.info["prompt"], "a girl with red braids, portrait");
  EXPECT_FALSE(portrait.image == first.image);
}

TEST(VanillaTest, ScenePromptParamPicksThePrompt) {
  const auto story = plan();
  auto system = create_system("vanilla", {{"scene_prompt", "prompt"}}, tiny_model());
  EXPECT_EQ(system->scene({&story, 0, 7, {}}).info["prompt"], "Gretel walks into the forest");
  system = create_system("vanilla", {{"scene_prompt", "rewritten"}}, tiny_model());
  EXPECT_EQ(system->scene({&story, 0, 7, {}}).info["prompt"], "a red-braided girl walks into the forest");
  EXPECT_THROW(system->scene({&story, 1, 7, {}}), core::InputError);  // no rewritten prompt
  EXPECT_THROW(system->scene({&story, 2, 7, {}}), core::RunError);    // no such scene
  EXPECT_THROW(system->portrait({&story, 1, 7}), core::RunError);     // no such subject
}

TEST(VanillaTest, EveryImageIsDeterministicAcrossSystemInstances) {
  // Two live systems share one pipeline; after they are gone a fresh pipeline (weights
  // seeded again) draws the same pixels.
  const auto story = plan();
  core::Image first;
  {
    const auto a = create_system("vanilla", nlohmann::json::object(), tiny_model());
    const auto b = create_system("vanilla", nlohmann::json(nullptr), tiny_model());
    first = a->portrait({&story, 0, 11}).image;
    EXPECT_TRUE(first == b->portrait({&story, 0, 11}).image);
  }
  const auto c = create_system("vanilla", nlohmann::json::object(), tiny_model());
  EXPECT_TRUE(first == c->portrait({&story, 0, 11}).image);
}

TEST(VanillaTest, BadParamsAreInputErrors) {
  auto message = input_error([] { create_system("vanilla", {{"scene_promt", "prompt"}}, tiny_model()); });
  EXPECT_NE(message.find("scene_prompt"), std::string::npos) << message;
  message = input_error([] { create_system("vanilla", {{"scene_prompt", "rewriten"}}, tiny_model()); });
  EXPECT_NE(message.find("did you mean 'rewritten'"), std::string::npos) << message;
  message = input_error([] { create_system("vanilla", {{"negative_prompt", 3}}, tiny_model()); });
  EXPECT_NE(message.find("system.params.negative_prompt"), std::string::npos) << message;
  message = input_error([] { create_system("vanilla", nlohmann::json::array({1}), tiny_model()); });
  EXPECT_NE(message.find("system.params"), std::string::npos) << message;
  auto model = tiny_model();
  model.profile = "sd16";
  EXPECT_THROW(create_system("vanilla", nlohmann::json::object(), model), core::InputError);
  model = tiny_model();
  model.profile = "sd15";
  EXPECT_THROW(create_system("vanilla", nlohmann::json::object(), model), core::InputError);  // no weights
}

}  // namespace
}  // namespace dsbench::systems
