#include <algorithm>
#include <map>
#include <regex>

#include "core/errors.h"
#include "core/hashing.h"
#include "harness/evaluation/evaluation.h"

namespace dsbench::evaluation {
namespace {

namespace fs = std::filesystem;

struct ImportedItem {
  store::ItemKey key;
  std::vector<store::ArtifactRecord> artifacts;
};

store::ArtifactRecord record(const fs::path& root, const fs::path& file, const std::string& kind, const std::string& name) {
  return {kind, name, fs::relative(file, root).generic_string(), core::sha256_file(file),
          static_cast<std::int64_t>(fs::file_size(file))};
}

std::vector<fs::path> sorted_entries(const fs::path& dir) {
  std::vector<fs::path> entries;
  for (const auto& entry : fs::directory_iterator(dir)) entries.push_back(entry.path());
  std::sort(entries.begin(), entries.end());
  return entries;
}

int number(const std::smatch& match, int group) { return std::stoi(match[group].str()); }

// DIR/<story>/portrait_SS.png [portrait_SS_mask.png], scene_NN.png [scene_NN_mask_SS.png]
void import_dsbench_story(const fs::path& root, const fs::path& dir, const std::string& system, const std::string& story,
                          std::map<std::string, ImportedItem>& items) {
  static const std::regex portrait(R"(portrait_(\d+)\.png)"), portrait_mask(R"(portrait_(\d+)_mask\.png)");
  static const std::regex scene(R"(scene_(\d+)\.png)"), scene_mask(R"(scene_(\d+)_mask_(\d+)\.png)");
  for (const auto& file : sorted_entries(dir)) {
    const std::string name = file.filename().string();
    std::smatch m;
    const auto item = [&](const std::string& kind, int index) -> ImportedItem& {
      auto& entry = items[story + "/" + kind + "/" + std::to_string(index)];
      entry.key = {system, story, kind, index, 0};
      return entry;
    };
    if (std::regex_match(name, m, portrait)) {
      item("portrait", number(m, 1)).artifacts.push_back(record(root, file, "portrait", "image"));
    } else if (std::regex_match(name, m, portrait_mask)) {
      item("portrait", number(m, 1)).artifacts.push_back(record(root, file, "mask", "source_mask"));
    } else if (std::regex_match(name, m, scene)) {
      item("scene", number(m, 1)).artifacts.push_back(record(root, file, "scene", "image"));
    } else if (std::regex_match(name, m, scene_mask)) {
      char mask_name[32];
      std::snprintf(mask_name, sizeof mask_name, "target_mask_%02d", number(m, 2));
      item("scene", number(m, 1)).artifacts.push_back(record(root, file, "mask", mask_name));
    }
  }
}

// DIR/<story>/<scene folder>/output_image_XX.png (portraits 0..S-1, then the scene),
// source_mask_XX.png, target_mask_XX.png.
void import_official_story(const fs::path& root, const fs::path& dir, const std::string& system, const std::string& story,
                           std::map<std::string, ImportedItem>& items) {
  static const std::regex output(R"(output_image_(\d+)\.png)"), source(R"(source_mask_(\d+)\.png)"),
      target(R"(target_mask_(\d+)\.png)");
  int scene_index = 0;
  for (const auto& folder : sorted_entries(dir)) {
    if (!fs::is_directory(folder)) continue;
    std::map<int, fs::path> outputs, sources, targets;
    for (const auto& file : sorted_entries(folder)) {
      const std::string name = file.filename().string();
      std::smatch m;
      if (std::regex_match(name, m, output)) outputs[number(m, 1)] = file;
      else if (std::regex_match(name, m, source)) sources[number(m, 1)] = file;
      else if (std::regex_match(name, m, target)) targets[number(m, 1)] = file;
    }
    if (outputs.empty()) continue;
    const int subjects = static_cast<int>(sources.size());
    if (static_cast<int>(outputs.size()) != subjects + 1) {
      throw core::InputError(core::Location{folder.string(), 0, ""},
                             "expected " + std::to_string(subjects + 1) + " output_image_XX.png (" +
                                 std::to_string(subjects) + " portraits per source_mask_XX.png, then the scene), found " +
                                 std::to_string(outputs.size()));
    }
    const int scene = scene_index++;
    auto& scene_item = items[story + "/scene/" + std::to_string(scene)];
    scene_item.key = {system, story, "scene", scene, 0};
    scene_item.artifacts.push_back(record(root, std::prev(outputs.end())->second, "scene", "image"));
    for (const auto& [s, file] : targets) {
      char mask_name[32];
      std::snprintf(mask_name, sizeof mask_name, "target_mask_%02d", s);
      scene_item.artifacts.push_back(record(root, file, "mask", mask_name));
    }
    if (scene != 0) continue;  // portraits are the same in every scene folder: take the first
    int s = 0;
    for (const auto& [index, file] : outputs) {
      if (s == subjects) break;
      auto& portrait = items[story + "/portrait/" + std::to_string(s)];
      portrait.key = {system, story, "portrait", s, 0};
      portrait.artifacts.push_back(record(root, file, "portrait", "image"));
      if (sources.count(index)) portrait.artifacts.push_back(record(root, sources.at(index), "mask", "source_mask"));
      ++s;
    }
  }
}

bool is_official_layout(const fs::path& story_dir) {
  for (const auto& entry : fs::directory_iterator(story_dir)) {
    if (entry.is_directory() && fs::exists(entry.path() / "output_image_00.png")) return true;
  }
  return false;
}

}  // namespace

store::RunId import_images(store::Store& store, const fs::path& dir, const std::string& system) {
  if (!fs::is_directory(dir)) {
    throw core::InputError(core::Location{dir.string(), 0, ""}, "expected a folder of story folders");
  }
  const fs::path root = fs::canonical(dir);
  std::map<std::string, ImportedItem> items;
  for (const auto& story_dir : sorted_entries(root)) {
    if (!fs::is_directory(story_dir)) continue;
    const std::string story = story_dir.filename().string();
    if (is_official_layout(story_dir)) import_official_story(root, story_dir, system, story, items);
    else import_dsbench_story(root, story_dir, system, story, items);
  }
  if (items.empty()) {
    throw core::InputError(core::Location{dir.string(), 0, ""},
                           "no images found: expected <story>/portrait_SS.png and scene_NN.png, or the official "
                           "<story>/<scene>/output_image_XX.png layout");
  }
  std::string listing;
  for (const auto& [name, item] : items)
    for (const auto& artifact : item.artifacts) listing += artifact.path + "=" + artifact.sha256 + "\n";
  store::NewRun run;
  run.name = "import:" + root.filename().string();
  run.config_json = nlohmann::json{{"imported_from", root.string()}, {"system", system}}.dump();
  run.config_hash = core::sha256_hex("import\n" + root.string() + "\n" + system + "\n" + listing);
  run.output_dir = root.string();
  run.host = "import";
  const store::RunId id = store.create_run(run);
  std::vector<store::NewItem> new_items;
  for (const auto& [name, item] : items) {
    new_items.push_back({item.key, system + "/" + item.key.story, 1.0, name});
  }
  store.add_items(id, new_items);
  for (const auto& [name, item] : items) {
    const auto row = store.find_item(id, item.key);
    if (!row) throw core::RunError("imported item " + name + " vanished from the store");
    store.complete_item(row->id, nlohmann::json{{"imported", true}}, 0.0, item.artifacts);
  }
  store.set_run_status(id, "imported", std::to_string(items.size()) + " items from " + root.string());
  return id;
}

}  // namespace dsbench::evaluation
