// A test-only System: draws images whose pixels follow from the request alone (story,
// item, seed and, for scenes, the portraits handed in), so a test can recompute every
// expected image independently, and so the executor can be exercised without torch.
// Scenes fold the portraits' pixels in: a scene drawn with a missing or wrong portrait
// does not match its reference.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

#include "core/hashing.h"
#include "harness/config/config.h"
#include "pipeline/systems/registry.h"
#include "pipeline/systems/system.h"

namespace dsbench::executor::testing {

inline std::uint64_t mix(std::uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

inline core::Image noise_image(std::uint64_t seed, int width, int height, int channels) {
  core::Image image(width, height, channels);
  std::uint64_t state = seed;
  for (auto& pixel : image.pixels) {
    state = mix(state + 0x9e3779b97f4a7c15ULL);
    pixel = static_cast<std::uint8_t>(state & 0xff);
  }
  return image;
}

inline std::uint64_t portrait_seed(const std::string& system, const std::string& story, int subject,
                                   std::uint64_t seed) {
  return core::stable_hash64(system + "|" + story + "|portrait|" + std::to_string(subject) + "|" +
                             std::to_string(seed));
}

inline std::uint64_t scene_seed(const std::string& system, const std::string& story, int scene, std::uint64_t seed) {
  return core::stable_hash64(system + "|" + story + "|scene|" + std::to_string(scene) + "|" + std::to_string(seed));
}

// What the test system draws for a portrait (the reference the tests compare against).
inline core::Image expected_portrait(const std::string& system, const std::string& story, int subject,
                                     std::uint64_t seed, int size) {
  return noise_image(portrait_seed(system, story, subject, seed), size, size, 3);
}

// A scene: its own noise, plus (when the system uses portraits) each portrait's first
// row added in.
inline core::Image scene_from(std::uint64_t scene_noise_seed, const std::vector<core::Image>& portraits, int size) {
  core::Image image = noise_image(scene_noise_seed, size, size, 3);
  for (const auto& portrait : portraits) {
    for (std::size_t i = 0; i < image.pixels.size() && i < portrait.pixels.size(); ++i) {
      image.pixels[i] = static_cast<std::uint8_t>(image.pixels[i] + portrait.pixels[i]);
    }
  }
  return image;
}

struct TestSystemOptions {
  std::string name = "test";
  int size = 16;
  bool uses_portraits = true;
  std::string fail_story;  // scenes of this story throw
  int fail_scene = -1;     // -1 = every scene of fail_story
  int fail_portrait = -1;  // this subject's portrait of fail_story throws (-1 = none)
  int delay_ms = 0;        // every image takes at least this long
};

class TestSystem : public systems::System {
 public:
  explicit TestSystem(TestSystemOptions options) : options_(std::move(options)) {}

  std::string name() const override { return options_.name; }
  bool uses_portraits() const override { return options_.uses_portraits; }

  systems::SystemOutput portrait(const systems::PortraitRequest& request) override {
    if (request.plan->story_id == options_.fail_story && request.subject == options_.fail_portrait) {
      throw std::runtime_error("test system refuses portrait " + std::to_string(request.subject) + " of " +
                               request.plan->story_id);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(options_.delay_ms));
    systems::SystemOutput output;
    output.image = expected_portrait(options_.name, request.plan->story_id, request.subject, request.seed, options_.size);
    // A side image like a real system's mask, to exercise side-artifact writing.
    output.side_images.push_back(
        {"mask", "mask", noise_image(portrait_seed(options_.name, request.plan->story_id, request.subject, request.seed) + 1,
                                     options_.size, options_.size, 1)});
    output.info = {{"subject", request.plan->subjects.at(static_cast<std::size_t>(request.subject)).name}};
    return output;
  }

  systems::SystemOutput scene(const systems::SceneRequest& request) override {
    if (request.plan->story_id == options_.fail_story && options_.fail_portrait < 0 &&
        (options_.fail_scene < 0 || options_.fail_scene == request.scene)) {
      throw std::runtime_error("test system refuses scene " + std::to_string(request.scene) + " of " +
                               request.plan->story_id);
    }
    const auto& subjects = request.plan->scenes.at(static_cast<std::size_t>(request.scene)).subjects;
    std::vector<core::Image> portraits;
    if (options_.uses_portraits) {
      if (request.portraits.size() != subjects.size()) {
        throw std::runtime_error("expected " + std::to_string(subjects.size()) + " portraits, got " +
                                 std::to_string(request.portraits.size()));
      }
      for (std::size_t i = 0; i < subjects.size(); ++i) {
        if (request.portraits[i].subject != subjects[i]) throw std::runtime_error("portraits out of order");
        portraits.push_back(request.portraits[i].image);
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(options_.delay_ms));
    systems::SystemOutput output;
    output.image = scene_from(scene_seed(options_.name, request.plan->story_id, request.scene, request.seed), portraits,
                              options_.size);
    output.info = {{"portraits", portraits.size()}};
    return output;
  }

 private:
  TestSystemOptions options_;
};

}  // namespace dsbench::executor::testing
