// The DS-500 release as published: Synthetic-Cases-400/<k>-subject_meta.json (parallel
// lists) and Real-Stories-100/<id>_<title>.txt (raw stories). Mapping (README.md):
// each synthetic file is one Story whose subjects are the file's character pool and
// whose scenes are the file's cases; each real story file is one unannotated Story.
#include <algorithm>
#include <cctype>
#include <regex>

#include "core/text.h"
#include "datasets/reading.h"

namespace dsbench::datasets::detail {
namespace {

namespace fs = std::filesystem;

constexpr const char* kSyntheticFolder = "Synthetic-Cases-400";
constexpr const char* kRealFolder = "Real-Stories-100";

std::string two_digits(std::size_t index) {
  return index < 10 ? "0" + std::to_string(index) : std::to_string(index);
}

// Subjects per case that a synthetic file's name promises: "no_subject_meta.json" -> 0,
// "<k>-subject_meta.json" -> k.
std::optional<int> subjects_per_case(const std::string& filename) {
  if (filename == "no_subject_meta.json") return 0;
  static const std::regex pattern(R"(^([0-9]+)-subject_meta\.json$)");
  std::smatch match;
  if (std::regex_match(filename, match, pattern)) return std::stoi(match[1].str());
  return std::nullopt;
}

std::vector<fs::path> sorted_files(const fs::path& folder) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(folder)) {
    if (entry.is_regular_file()) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

struct CharacterPool {
  std::vector<std::string> types, short_prompts, prompts;
};

// Reads one of the three parallel character lists; every entry must be a non-empty string.
std::vector<std::string> read_string_list(const JsonDocument& document, ObjectReader& root,
                                          const std::string& key, Problems& problems) {
  std::vector<std::string> out;
  const auto* list = root.array(key, true);
  if (list == nullptr) return out;
  for (std::size_t i = 0; i < list->size(); ++i) {
    const auto& item = (*list)[i];
    const auto where = document.at(element_pointer(root.child_pointer(key), i),
                                   element_field(key, i));
    if (!item.is_string()) {
      problems.add(where, "expected a string, found " + json_type_name(item));
      out.emplace_back();
    } else if (core::trim(item.get<std::string>()).empty()) {
      problems.add(where, "is empty; expected a non-empty string");
      out.emplace_back();
    } else {
      out.push_back(item.get<std::string>());
    }
  }
  return out;
}

// A scene prompt is a plain string (no_subject_meta.json) or a one-element list holding
// the string (the other files).
std::optional<std::string> scene_prompt(const JsonDocument& document, const nlohmann::json& item,
                                        const std::string& pointer, const std::string& field,
                                        Problems& problems) {
  const nlohmann::json* text = &item;
  if (item.is_array()) {
    if (item.size() != 1) {
      problems.add(document.at(pointer, field),
                   "expected one scene prompt (a string or a one-element list), found a list of " +
                       std::to_string(item.size()));
      return std::nullopt;
    }
    text = &item[0];
  }
  const auto where = item.is_array() ? document.at(pointer + "/0", field + "[0]") : document.at(pointer, field);
  if (!text->is_string()) {
    problems.add(where, "expected a scene prompt string, found " + json_type_name(*text));
    return std::nullopt;
  }
  if (core::trim(text->get<std::string>()).empty()) {
    problems.add(where, "is empty; expected a non-empty scene prompt");
    return std::nullopt;
  }
  return text->get<std::string>();
}

std::vector<int> scene_characters(const JsonDocument& document, const nlohmann::json& item,
                                  const std::string& pointer, const std::string& field,
                                  std::size_t pool_size, int expected_count, Problems& problems) {
  std::vector<int> out;
  if (!item.is_array()) {
    problems.add(document.at(pointer, field),
                 "expected a list of character indices, found " + json_type_name(item));
    return out;
  }
  if (static_cast<int>(item.size()) != expected_count) {
    problems.add(document.at(pointer, field),
                 "has " + std::to_string(item.size()) + " characters; expected " +
                     std::to_string(expected_count) + " (the file name says " +
                     std::to_string(expected_count) + " per case)");
  }
  for (std::size_t k = 0; k < item.size(); ++k) {
    const auto where = document.at(element_pointer(pointer, k), element_field(field, k));
    const auto& index = item[k];
    if (!index.is_number_integer()) {
      problems.add(where, "expected a character index (integer), found " + json_type_name(index));
      continue;
    }
    const auto value = index.get<long long>();
    if (value < 0 || static_cast<std::size_t>(value) >= pool_size) {
      problems.add(where, "character index " + std::to_string(value) + " out of range; expected 0.." +
                              std::to_string(static_cast<long long>(pool_size) - 1) +
                              " (character_type_list has " + std::to_string(pool_size) + ")");
      continue;
    }
    if (std::find(out.begin(), out.end(), static_cast<int>(value)) != out.end()) {
      problems.add(where, "character index " + std::to_string(value) +
                              " repeated; expected each character at most once per scene");
      continue;
    }
    out.push_back(static_cast<int>(value));
  }
  return out;
}

void read_synthetic_file(const fs::path& file, int per_case, ReadResult& out, Problems& problems) {
  const std::size_t before = problems.size();
  const auto bytes = read_bytes(file, problems);
  if (!bytes) return;
  const auto document = parse_json(file.string(), *bytes, 1, problems);
  if (!document) return;
  ObjectReader root(*document, document->value, "", "", problems);
  if (!root.ok()) return;
  root.reject_unknown_keys({"character_type_list", "character_short_prompts_list",
                            "character_prompts_list", "scene_prompts_list", "scene_character_list"});

  CharacterPool pool;
  pool.types = read_string_list(*document, root, "character_type_list", problems);
  pool.short_prompts = read_string_list(*document, root, "character_short_prompts_list", problems);
  pool.prompts = read_string_list(*document, root, "character_prompts_list", problems);
  for (const auto* key : {"character_short_prompts_list", "character_prompts_list"}) {
    const auto* list = root.get(key);
    if (list != nullptr && list->is_array() && list->size() != pool.types.size() &&
        root.get("character_type_list") != nullptr) {
      problems.add(root.where(key),
                   "has " + std::to_string(list->size()) + " entries; expected " +
                       std::to_string(pool.types.size()) +
                       " (parallel to character_type_list)");
    }
  }
  const std::size_t pool_size =
      std::min({pool.types.size(), pool.short_prompts.size(), pool.prompts.size()});

  const auto* prompts = root.array("scene_prompts_list", true);
  const auto* characters = root.array("scene_character_list", true);
  if (prompts != nullptr && characters != nullptr && prompts->size() != characters->size()) {
    problems.add(root.where("scene_character_list"),
                 "has " + std::to_string(characters->size()) + " entries; expected " +
                     std::to_string(prompts->size()) + " (parallel to scene_prompts_list)");
  }
  if (prompts != nullptr && prompts->empty()) {
    problems.add(root.where("scene_prompts_list"), "is empty; expected at least one scene");
  }

  const std::string label = per_case == 0 ? "no" : std::to_string(per_case);
  Story story;
  story.id = "synthetic-" + label + "-subject";
  story.category = story.id;
  story.title = per_case == 0 ? "Synthetic cases without subjects"
                              : "Synthetic cases with " + label + " subject" + (per_case == 1 ? "" : "s");
  story.source_file = file.string();
  for (std::size_t i = 0; i < pool_size; ++i) {
    story.subjects.push_back(Subject{two_digits(i) + "_" + pool.types[i], pool.types[i],
                                     pool.prompts[i], pool.short_prompts[i]});
  }
  const std::size_t scene_count =
      prompts != nullptr && characters != nullptr ? std::min(prompts->size(), characters->size()) : 0;
  for (std::size_t i = 0; i < scene_count; ++i) {
    const std::string prompt_pointer = element_pointer("/scene_prompts_list", i);
    const std::string prompt_field = element_field("scene_prompts_list", i);
    const auto prompt = scene_prompt(*document, (*prompts)[i], prompt_pointer, prompt_field, problems);
    const auto indices = scene_characters(*document, (*characters)[i],
                                          element_pointer("/scene_character_list", i),
                                          element_field("scene_character_list", i), pool_size,
                                          per_case, problems);
    Scene scene;
    scene.prompt = prompt.value_or("");
    scene.subjects = indices;
    const bool wrapped = (*prompts)[i].is_array();
    scene.origin = document->at(prompt_pointer + (wrapped ? "/0" : ""), prompt_field + (wrapped ? "[0]" : ""));
    // The official pre-processing's case name: {scene_idx:02}_{type1}_{type2}.
    scene.case_name = two_digits(i);
    for (const int index : indices) scene.case_name += "_" + pool.types[static_cast<std::size_t>(index)];
    story.scenes.push_back(std::move(scene));
  }
  if (problems.size() != before) return;
  out.story_origins.push_back(core::Location{file.string(), 1, ""});
  out.dataset.stories.push_back(std::move(story));
}

void read_synthetic_folder(const fs::path& folder, ReadResult& out, Problems& problems) {
  std::vector<std::pair<int, fs::path>> files;
  for (const auto& file : sorted_files(folder)) {
    const std::string name = file.filename().string();
    if (name.starts_with(".")) continue;
    const auto per_case = subjects_per_case(name);
    if (!per_case) {
      problems.add(core::Location{file.string(), 0, ""},
                   "unexpected file in " + std::string(kSyntheticFolder) +
                       "; expected no_subject_meta.json or <k>-subject_meta.json");
      continue;
    }
    files.emplace_back(*per_case, file);
  }
  if (files.empty()) {
    problems.add(core::Location{folder.string(), 0, ""},
                 "no synthetic case files; expected no_subject_meta.json or <k>-subject_meta.json");
  }
  // Stable order by subjects per case: no-subject, 1, 2, 3.
  std::sort(files.begin(), files.end());
  for (const auto& [per_case, file] : files) read_synthetic_file(file, per_case, out, problems);
}

void read_real_story(const fs::path& file, ReadResult& out, Problems& problems) {
  static const std::regex pattern(R"(^([0-9]+)_(.+)\.txt$)");
  const std::string name = file.filename().string();
  std::smatch match;
  if (!std::regex_match(name, match, pattern)) {
    problems.add(core::Location{file.string(), 0, ""},
                 "unexpected file name; expected <id>_<title>.txt with a numeric id");
    return;
  }
  const auto bytes = read_bytes(file, problems);
  if (!bytes) return;
  if (const auto bad = first_invalid_utf8(*bytes)) {
    problems.add(core::Location{file.string(), line_of_offset(*bytes, *bad), ""},
                 "invalid UTF-8 at byte offset " + std::to_string(*bad) + " (expected UTF-8 text)");
    return;
  }
  if (core::trim(*bytes).empty()) {
    problems.add(core::Location{file.string(), 1, ""}, "is empty; expected the story text");
    return;
  }
  Story story;
  story.id = match[1].str();
  story.title = match[2].str();
  story.category = "real-story";
  story.text = *bytes;
  story.annotated = false;
  story.source_file = file.string();
  out.story_origins.push_back(core::Location{file.string(), 1, ""});
  out.dataset.stories.push_back(std::move(story));
}

void read_real_folder(const fs::path& folder, ReadResult& out, Problems& problems) {
  std::vector<std::pair<long long, fs::path>> files;
  for (const auto& file : sorted_files(folder)) {
    const std::string name = file.filename().string();
    if (name.starts_with(".")) continue;
    if (file.extension() != ".txt") {
      problems.add(core::Location{file.string(), 0, ""},
                   "unexpected file in " + std::string(kRealFolder) + "; expected <id>_<title>.txt");
      continue;
    }
    const std::string digits = name.substr(0, name.find_first_not_of("0123456789"));
    files.emplace_back(digits.empty() || digits.size() > 18 ? -1 : std::stoll(digits), file);
  }
  if (files.empty()) {
    problems.add(core::Location{folder.string(), 0, ""}, "no story files; expected <id>_<title>.txt");
  }
  // Numeric id order (3200 < 8519), then file name.
  std::sort(files.begin(), files.end());
  for (const auto& entry : files) read_real_story(entry.second, out, problems);
}

}  // namespace

bool holds_synthetic_files(const fs::path& folder) {
  if (!fs::is_directory(folder)) return false;
  for (const auto& entry : fs::directory_iterator(folder)) {
    if (entry.is_regular_file() && subjects_per_case(entry.path().filename().string())) return true;
  }
  return false;
}

// `root` holds Synthetic-Cases-400/ and/or Real-Stories-100/, or is itself one of them.
void read_official_release(const fs::path& root, ReadResult& out, Problems& problems) {
  if (holds_synthetic_files(root)) {
    read_synthetic_folder(root, out, problems);
    return;
  }
  if (root.filename() == kRealFolder) {
    read_real_folder(root, out, problems);
    return;
  }
  const bool has_synthetic = fs::is_directory(root / kSyntheticFolder);
  const bool has_real = fs::is_directory(root / kRealFolder);
  if (!has_synthetic && !has_real) {
    problems.add(core::Location{root.string(), 0, ""},
                 std::string("not a DS-500 release; expected ") + kSyntheticFolder + "/ or " +
                     kRealFolder + "/");
    return;
  }
  if (has_synthetic) read_synthetic_folder(root / kSyntheticFolder, out, problems);
  if (has_real) read_real_folder(root / kRealFolder, out, problems);
}

}  // namespace dsbench::datasets::detail
