// What evaluation needs to know about a story besides its images: each scene's prompts
// and subjects, each subject's class word (a detector's query). Read from the plan facts
// the executor stores with every item; for runs without them (imported folders, older
// runs) from the dataset, matched by story id and scene index, or by official test-case
// name ("07_boy_cat": that case's one scene, its subjects numbered 0..S-1).
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "harness/store/store.h"

namespace dsbench::evaluation {

struct SceneFacts {
  std::string scene_prompt;       // the director's scene prompt
  std::string generation_prompt;  // what the system drew from, when it said
  std::vector<int> subjects;      // subject indices in the scene, in prompt order
  bool subjects_known = false;
};

struct StoryFacts {
  std::map<int, std::string> keywords;  // subject -> class word
  std::map<int, SceneFacts> scenes;
};

// (system, story, seed) -> facts.
using FactsKey = std::tuple<std::string, std::string, std::uint64_t>;
struct RunFacts {
  std::map<FactsKey, StoryFacts> stories;
  std::map<std::string, std::string> categories;  // story id -> category (from the dataset)
};

// From the run's done items; what they leave open (and the categories) from the dataset
// at `dataset_root` (if non-empty; InputError if it does not load) or else the one the
// run's config names (a dataset that moved or changed only leaves facts out).
RunFacts gather_facts(const store::Store& store, store::RunId run, const std::filesystem::path& dataset_root);

}  // namespace dsbench::evaluation
