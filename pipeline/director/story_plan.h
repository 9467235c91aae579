// What the director decides about a story: its subjects and, per scene, the prompt, the
// subjects present and the prompt with names replaced by short descriptions. Produced by
// an LLM backend or taken from a dataset's annotations (oracle); consumed by systems.
#pragma once

#include <string>
#include <vector>

namespace dsbench::director {

struct SubjectPlan {
  std::string name;            // as the story calls it ("Gretel", "00_chef")
  std::string kind;            // class word, also the detection keyword ("girl", "chef")
  std::string portrait_prompt; // full description used to generate the portrait
  std::string short_prompt;    // short attribute phrase that replaces the name in rewrites
};

struct ScenePlan {
  std::string prompt;            // diffusion prompt as the director wrote it (may hold names)
  std::vector<int> subjects;     // indices into StoryPlan::subjects, in order of mention
  std::string rewritten_prompt;  // names replaced by short prompts; empty = not rewritten
};

struct StoryPlan {
  std::string story_id;
  std::vector<SubjectPlan> subjects;
  std::vector<ScenePlan> scenes;
};

}  // namespace dsbench::director
