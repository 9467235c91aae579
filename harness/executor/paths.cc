#include "harness/executor/executor.h"

namespace dsbench::executor {
namespace {

std::filesystem::path group_folder(const planning::ItemKey& key) {
  return std::filesystem::path(safe_file_name(key.system)) / safe_file_name(key.story) /
         ("seed-" + std::to_string(key.seed));
}

std::string image_stem(const planning::ItemKey& key, const std::string& subject_name) {
  if (key.kind == planning::ItemKind::kPortrait) {
    return "portrait_" + safe_file_name(subject_name);
  }
  return "scene_" + std::string(key.index < 10 ? "0" : "") + std::to_string(key.index);
}

}  // namespace

std::string safe_file_name(const std::string& text) {
  std::string name;
  for (const char c : text) {
    const bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                      c == '_' || c == '.';
    name += keep ? c : '_';
  }
  // "." and ".." (and hidden names) must not become path components.
  if (name.empty() || name.front() == '.') name = "_" + name;
  return name;
}

std::filesystem::path item_image_path(const planning::ItemKey& key, const std::string& subject_name) {
  return group_folder(key) / (image_stem(key, subject_name) + ".png");
}

std::filesystem::path side_image_path(const planning::ItemKey& key, const std::string& subject_name,
                                      const std::string& side_name) {
  return group_folder(key) / (image_stem(key, subject_name) + "." + safe_file_name(side_name) + ".png");
}

}  // namespace dsbench::executor
