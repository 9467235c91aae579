// What a story-visualisation system is, as the executor sees it: given a story's plan it
// draws each subject's portrait, then each scene (with the portraits at hand). Systems
// know nothing of stores, configs files or the CLI; the harness owns those.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/image.h"
#include "pipeline/director/story_plan.h"

namespace dsbench::systems {

// Sampling settings shared by every system in a run (from the config's `sampler`).
struct SamplerSettings {
  int steps = 50;
  double guidance = 7.5;
  int width = 512;
  int height = 512;
};

// A named image a system produced besides its main output (masks, rehearsal pass, ...).
// `kind` is what reports and metrics look for: "mask", "rehearsal", ...
struct SideImage {
  std::string kind;
  std::string name;  // unique within the item, e.g. "target_mask_00"
  core::Image image;
};

struct SystemOutput {
  core::Image image;
  std::vector<SideImage> side_images;
  nlohmann::json info = nlohmann::json::object();  // e.g. {"retries": 2}; stored with the item
};

struct PortraitRequest {
  const director::StoryPlan* plan = nullptr;
  int subject = 0;          // index into plan->subjects
  std::uint64_t seed = 0;
};

// One finished portrait, handed back to the system for a scene.
struct Portrait {
  int subject = 0;
  core::Image image;
  std::vector<SideImage> side_images;  // e.g. its source mask
};

struct SceneRequest {
  const director::StoryPlan* plan = nullptr;
  int scene = 0;            // index into plan->scenes
  std::uint64_t seed = 0;
  std::vector<Portrait> portraits;  // one per subject of this scene, in plan order
};

class System {
 public:
  virtual ~System() = default;
  virtual std::string name() const = 0;
  virtual bool uses_portraits() const { return true; }
  virtual SystemOutput portrait(const PortraitRequest& request) = 0;
  virtual SystemOutput scene(const SceneRequest& request) = 0;
};

}  // namespace dsbench::systems
