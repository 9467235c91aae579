#include "harness/evaluation/artifacts.h"

#include <tuple>

namespace dsbench::evaluation {

namespace {

std::optional<int> subject_of_mask_name(const std::string& name) {
  const auto underscore = name.find_last_of('_');
  if (underscore == std::string::npos) return std::nullopt;
  try {
    return std::stoi(name.substr(underscore + 1));
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace

std::vector<StoryArtifacts> group_artifacts(const std::vector<store::ArtifactRow>& rows) {
  std::map<std::tuple<std::string, std::string, std::uint64_t>, StoryArtifacts> stories;
  for (const auto& row : rows) {
    auto& story = stories[{row.key.system, row.key.story, row.key.seed}];
    story.system = row.key.system;
    story.story = row.key.story;
    story.seed = row.key.seed;
    const bool image = row.name == "image";
    if (row.key.kind == "portrait") {
      if (image) story.portraits[row.key.index] = row;
      else if (row.kind == "mask") story.portrait_masks[row.key.index] = row;
    } else if (row.key.kind == "scene") {
      auto& scene = story.scenes[row.key.index];
      if (image) scene.image = row;
      else if (row.kind == "mask") {
        if (const auto subject = subject_of_mask_name(row.name)) scene.masks[*subject] = row;
      }
    }
  }
  std::vector<StoryArtifacts> result;
  for (auto& [key, story] : stories) result.push_back(std::move(story));
  return result;
}

const core::Image& ImageReader::read(const store::ArtifactRow& row) {
  auto found = images_.find(row.path);
  if (found == images_.end()) found = images_.emplace(row.path, core::read_image(root_ / row.path)).first;
  return found->second;
}

}  // namespace dsbench::evaluation
