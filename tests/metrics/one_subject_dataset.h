// A JSONL dataset of one story with one subject present in every scene, for the tests
// that import images and need a dataset behind them (prompts, class words, categories).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "datasets/dataset.h"

namespace dsbench::testing {

inline void write_one_subject_dataset(const std::filesystem::path& folder, const std::string& story_id,
                                      const std::string& category, const datasets::Subject& subject,
                                      const std::vector<std::string>& scene_prompts) {
  datasets::Dataset dataset;
  dataset.name = story_id;
  datasets::Story story;
  story.id = story_id;
  story.category = category;
  story.subjects.push_back(subject);
  for (const auto& prompt : scene_prompts) {
    datasets::Scene scene;
    scene.prompt = prompt;
    scene.subjects = {0};
    story.scenes.push_back(scene);
  }
  dataset.stories.push_back(story);
  datasets::write_jsonl_dataset(dataset, folder);
}

}  // namespace dsbench::testing
