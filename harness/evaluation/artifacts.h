// A run's artifact rows grouped the way evaluation reads them: per (system, story, seed),
// the portraits and their masks, the scenes and their per-subject target masks; and a
// reader that decodes each image file at most once per evaluation.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/image.h"
#include "harness/store/store.h"

namespace dsbench::evaluation {

struct SceneArtifacts {
  std::optional<store::ArtifactRow> image;
  std::map<int, store::ArtifactRow> masks;  // subject -> target mask ("target_mask_SS")
};

struct StoryArtifacts {
  std::string system, story;
  std::uint64_t seed = 0;
  std::map<int, store::ArtifactRow> portraits, portrait_masks;
  std::map<int, SceneArtifacts> scenes;
};

// In (system, story, seed) order. Rows that are neither an "image" nor a "mask" are ignored.
std::vector<StoryArtifacts> group_artifacts(const std::vector<store::ArtifactRow>& rows);

class ImageReader {
 public:
  explicit ImageReader(std::filesystem::path root) : root_(std::move(root)) {}
  // RunError (core::read_image) naming the file when it cannot be decoded.
  const core::Image& read(const store::ArtifactRow& row);

 private:
  std::filesystem::path root_;
  std::map<std::string, core::Image> images_;
};

}  // namespace dsbench::evaluation
