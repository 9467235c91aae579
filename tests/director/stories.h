// The story the director tests plan: Hansel and Gretel, two annotated subjects, two scenes
// (the first with a passage text, so the rendered prompt shows passages over prompts).
#pragma once

#include <string>

#include "datasets/dataset.h"

namespace dsbench::director::testing {

inline datasets::Story story_named(const std::string& id) {
  datasets::Story story;
  story.id = id;
  story.title = "Hansel and Gretel";
  story.subjects = {{.name = "Hansel", .kind = "boy", .description = "a boy", .short_description = "a boy in green"},
                    {.name = "Gretel", .kind = "girl", .description = "a girl", .short_description = "a girl in red"}};
  datasets::Scene walk;
  walk.text = "Hansel and Gretel walk into the forest.";
  walk.prompt = "Hansel and Gretel walk into the forest";
  walk.subjects = {0, 1};
  datasets::Scene pebbles;
  pebbles.prompt = "Hansel drops pebbles";
  pebbles.subjects = {0};
  story.scenes = {walk, pebbles};
  return story;
}

}  // namespace dsbench::director::testing
