#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <set>

#include "datasets/dataset.h"

namespace dsbench::datasets {
namespace {

std::string serialized(const Dataset& dataset) {
  std::string out = dataset.name + "\n";
  for (const auto& story : dataset.stories) out += story_to_jsonl_line(story) + "\n";
  return out;
}

TEST(Scaling, SameSeedSameBytesOtherSeedOtherStories) {
  const ScalingOptions options{.subjects = 5, .stories = 3, .scenes = 4, .seed = 42};
  EXPECT_EQ(serialized(generate_scaling_dataset(options)), serialized(generate_scaling_dataset(options)));
  ScalingOptions other = options;
  other.seed = 43;
  EXPECT_NE(serialized(generate_scaling_dataset(options)), serialized(generate_scaling_dataset(other)));
  // Story k does not depend on how many stories are asked for.
  ScalingOptions more = options;
  more.stories = 5;
  EXPECT_EQ(story_to_jsonl_line(generate_scaling_dataset(options).stories[2]),
            story_to_jsonl_line(generate_scaling_dataset(more).stories[2]));
}

TEST(Scaling, EveryNFromOneToSixteen) {
  for (int n = 1; n <= 16; ++n) {
    const Dataset dataset = generate_scaling_dataset({.subjects = n, .stories = 2, .scenes = 3, .seed = 7});
    ASSERT_EQ(dataset.stories.size(), 2u);
    for (const auto& story : dataset.stories) {
      ASSERT_EQ(static_cast<int>(story.subjects.size()), n);
      EXPECT_EQ(story.category, "scaling-" + std::to_string(n) + "-subject");
      std::set<std::string> names;
      for (const auto& subject : story.subjects) {
        names.insert(subject.name);
        EXPECT_FALSE(subject.kind.empty());
        EXPECT_NE(subject.description.find(subject.short_description), std::string::npos);
      }
      EXPECT_EQ(static_cast<int>(names.size()), n) << "names are unique";
      ASSERT_EQ(story.scenes.size(), 3u);
      for (const auto& scene : story.scenes) {
        EXPECT_EQ(static_cast<int>(scene.subjects.size()), n) << "default: all subjects in every scene";
        for (const int index : scene.subjects) {
          const auto& subject = story.subjects[static_cast<std::size_t>(index)];
          EXPECT_NE(scene.prompt.find(subject.name), std::string::npos);
          EXPECT_NE(scene.rewritten_prompt.find(subject.short_description), std::string::npos);
        }
      }
    }
  }
}

TEST(Scaling, SubjectsPerSceneCoversEverySubject) {
  const Dataset dataset =
      generate_scaling_dataset({.subjects = 16, .stories = 4, .scenes = 6, .seed = 3, .subjects_per_scene = 3});
  std::set<std::string> kinds_seen_families;
  for (const auto& story : dataset.stories) {
    std::set<int> covered;
    for (const auto& scene : story.scenes) {
      EXPECT_EQ(scene.subjects.size(), 3u);
      EXPECT_EQ(std::set<int>(scene.subjects.begin(), scene.subjects.end()).size(), 3u);
      covered.insert(scene.subjects.begin(), scene.subjects.end());
    }
    EXPECT_EQ(covered.size(), 16u);
  }
}

TEST(Scaling, MixesHumansAnimalsAndObjects) {
  const std::set<std::string> humans = {"man", "woman", "boy", "girl", "old man", "old woman", "knight", "chef"};
  const std::set<std::string> objects = {"teapot", "lantern", "clock", "umbrella", "robot", "violin", "boot", "kite"};
  int human = 0, object = 0, animal = 0;
  for (const auto& story : generate_scaling_dataset({.subjects = 16, .stories = 4, .scenes = 1, .seed = 0}).stories) {
    for (const auto& subject : story.subjects) {
      if (humans.contains(subject.kind)) ++human;
      else if (objects.contains(subject.kind)) ++object;
      else ++animal;
    }
  }
  EXPECT_GT(human, 0);
  EXPECT_GT(object, 0);
  EXPECT_GT(animal, 0);
}

TEST(Scaling, OutOfRangeOptionsAreInputErrors) {
  EXPECT_THROW(generate_scaling_dataset({.subjects = 0}), core::InputError);
  EXPECT_THROW(generate_scaling_dataset({.subjects = 17}), core::InputError);
  EXPECT_THROW(generate_scaling_dataset({.stories = 0}), core::InputError);
  EXPECT_THROW(generate_scaling_dataset({.subjects = 10, .scenes = 3, .subjects_per_scene = 3}), core::InputError);
  try {
    generate_scaling_dataset({.subjects = 17});
  } catch (const core::InputError& error) {
    EXPECT_EQ(error.where().field, "generator.subjects");
    EXPECT_NE(std::string(error.what()).find("expected 1..16"), std::string::npos);
  }
}

TEST(Scaling, ParsesParametersFromConfig) {
  const core::Location where{"configs/x.yaml", 12, "dataset.generator_params"};
  const auto options = parse_scaling_options(
      nlohmann::json::parse(R"({"subjects": 8, "stories": 2, "scenes": 3, "seed": 9, "subjects_per_scene": 2})"), where);
  EXPECT_EQ(options.subjects, 8);
  EXPECT_EQ(options.stories, 2);
  EXPECT_EQ(options.scenes, 3);
  EXPECT_EQ(options.seed, 9u);
  EXPECT_EQ(options.subjects_per_scene, 2);
  EXPECT_EQ(parse_scaling_options(nlohmann::json(), where).subjects, 4);
  try {
    parse_scaling_options(nlohmann::json::parse(R"({"subject": 8})"), where);
    FAIL();
  } catch (const core::InputError& error) {
    EXPECT_EQ(error.where().field, "dataset.generator_params.subject");
    EXPECT_EQ(error.where().line, 12);
    EXPECT_NE(std::string(error.what()).find("did you mean 'subjects'"), std::string::npos);
  }
  EXPECT_THROW(parse_scaling_options(nlohmann::json::parse(R"({"seed": -1})"), where), core::InputError);
  EXPECT_THROW(parse_scaling_options(nlohmann::json::parse(R"({"scenes": "six"})"), where), core::InputError);
}

}  // namespace
}  // namespace dsbench::datasets
