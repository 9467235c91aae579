// Our own form: stories.jsonl, one story per line, plus an optional dataset.json.
// Schema: datasets/README.md.
#include <algorithm>
#include <sstream>

#include "core/errors.h"
#include "core/files.h"
#include "core/text.h"
#include "datasets/reading.h"

namespace dsbench::datasets {
namespace detail {
namespace {

namespace fs = std::filesystem;

const std::vector<std::string> kStoryKeys = {"id",   "title",    "category", "text",
                                             "subjects", "scenes", "annotated"};
const std::vector<std::string> kSubjectKeys = {"name", "kind", "description", "short_description"};
const std::vector<std::string> kSceneKeys = {"text", "prompt", "subjects", "rewritten_prompt",
                                             "subject_tokens"};
const std::vector<std::string> kDatasetKeys = {"name", "description", "license", "licence",
                                               "source", "version"};

std::vector<Subject> read_subjects(const JsonDocument& document, ObjectReader& story,
                                   bool required, Problems& problems) {
  std::vector<Subject> subjects;
  const auto* list = story.array("subjects", required);
  if (list == nullptr) return subjects;
  for (std::size_t i = 0; i < list->size(); ++i) {
    ObjectReader item(document, (*list)[i], element_pointer(story.child_pointer("subjects"), i),
                      element_field("subjects", i), problems);
    if (!item.ok()) {
      subjects.emplace_back();
      continue;
    }
    item.reject_unknown_keys(kSubjectKeys);
    Subject subject;
    subject.name = item.string("name", true, true).value_or("");
    subject.kind = item.string("kind", true, true).value_or("");
    subject.description = item.string("description", true, true).value_or("");
    subject.short_description = item.string("short_description", false, false).value_or("");
    for (std::size_t j = 0; j < i && !subject.name.empty(); ++j) {
      if (subjects[j].name == subject.name) {
        problems.add(item.where("name"), "duplicate subject name '" + subject.name +
                                             "' (also subjects[" + std::to_string(j) +
                                             "]); expected unique names within a story");
      }
    }
    subjects.push_back(std::move(subject));
  }
  return subjects;
}

std::vector<std::string> subject_names(const std::vector<Subject>& subjects) {
  std::vector<std::string> names;
  for (const auto& subject : subjects) names.push_back(subject.name);
  return names;
}

std::vector<int> read_scene_subjects(const JsonDocument& document, ObjectReader& scene,
                                     const std::vector<Subject>& subjects, Problems& problems) {
  std::vector<int> indices;
  const auto* list = scene.array("subjects", false);
  if (list == nullptr) return indices;
  for (std::size_t k = 0; k < list->size(); ++k) {
    const auto& entry = (*list)[k];
    const auto where = document.at(element_pointer(scene.child_pointer("subjects"), k),
                                   element_field(scene.child_field("subjects"), k));
    int index = -1;
    if (entry.is_string()) {
      const std::string name = entry.get<std::string>();
      const auto names = subject_names(subjects);
      const auto found = std::find(names.begin(), names.end(), name);
      if (found == names.end()) {
        problems.add(where, "unknown subject '" + name + "'" + core::did_you_mean(name, names) +
                                "; expected one of the story's subjects: " + core::join(names, ", "));
        continue;
      }
      index = static_cast<int>(found - names.begin());
    } else if (entry.is_number_integer()) {
      const auto value = entry.get<long long>();
      if (value < 0 || value >= static_cast<long long>(subjects.size())) {
        problems.add(where, "subject index " + std::to_string(value) + " out of range; expected 0.." +
                                std::to_string(static_cast<long long>(subjects.size()) - 1) +
                                " (the story has " + std::to_string(subjects.size()) + " subjects)");
        continue;
      }
      index = static_cast<int>(value);
    } else {
      problems.add(where, "expected a subject name (string) or index (integer), found " +
                              json_type_name(entry));
      continue;
    }
    if (std::find(indices.begin(), indices.end(), index) != indices.end()) {
      problems.add(where, "subject '" + subjects[static_cast<std::size_t>(index)].name +
                              "' listed twice; expected each subject at most once per scene");
      continue;
    }
    indices.push_back(index);
  }
  return indices;
}

std::vector<std::vector<int>> read_token_lists(const JsonDocument& document, const nlohmann::json& list,
                                               const std::string& pointer, const std::string& field,
                                               std::size_t expected, Problems& problems) {
  std::vector<std::vector<int>> out;
  if (list.size() != expected) {
    problems.add(document.at(pointer, field),
                 "has " + std::to_string(list.size()) + " entries; expected " +
                     std::to_string(expected) + " (one list of token indices per subject)");
    return out;
  }
  for (std::size_t s = 0; s < list.size(); ++s) {
    const auto& tokens = list[s];
    std::vector<int> indices;
    if (!tokens.is_array()) {
      problems.add(document.at(element_pointer(pointer, s), element_field(field, s)),
                   "expected a list of token indices, found " + json_type_name(tokens));
      return {};
    }
    for (std::size_t t = 0; t < tokens.size(); ++t) {
      if (!tokens[t].is_number_integer() || tokens[t].get<long long>() < 0 ||
          tokens[t].get<long long>() > 1'000'000) {
        problems.add(document.at(element_pointer(element_pointer(pointer, s), t),
                                 element_field(element_field(field, s), t)),
                     "expected a non-negative token index, found " + tokens[t].dump());
        return {};
      }
      indices.push_back(tokens[t].get<int>());
    }
    out.push_back(std::move(indices));
  }
  return out;
}

std::vector<Scene> read_scenes(const JsonDocument& document, ObjectReader& story,
                               const std::vector<Subject>& subjects, bool required,
                               Problems& problems) {
  std::vector<Scene> scenes;
  const auto* list = story.array("scenes", required);
  if (list == nullptr) return scenes;
  if (required && list->empty()) {
    problems.add(story.where("scenes"), "is empty; expected at least one scene");
  }
  for (std::size_t i = 0; i < list->size(); ++i) {
    ObjectReader item(document, (*list)[i], element_pointer(story.child_pointer("scenes"), i),
                      element_field("scenes", i), problems);
    if (!item.ok()) continue;
    item.reject_unknown_keys(kSceneKeys);
    Scene scene;
    scene.text = item.string("text", false, false).value_or("");
    scene.prompt = item.string("prompt", true, true).value_or("");
    scene.subjects = read_scene_subjects(document, item, subjects, problems);
    scene.rewritten_prompt = item.string("rewritten_prompt", false, false).value_or("");
    if (const auto* tokens = item.array("subject_tokens", false)) {
      const std::size_t listed = item.get("subjects") != nullptr && item.get("subjects")->is_array()
                                     ? item.get("subjects")->size()
                                     : 0;
      scene.subject_tokens = read_token_lists(document, *tokens, item.child_pointer("subject_tokens"),
                                              item.child_field("subject_tokens"), listed, problems);
    }
    scene.origin = item.where("prompt");
    scenes.push_back(std::move(scene));
  }
  return scenes;
}

void read_story_line(const JsonDocument& document, ReadResult& out, Problems& problems) {
  const std::size_t before = problems.size();
  ObjectReader root(document, document.value, "", "", problems);
  if (!root.ok()) return;
  root.reject_unknown_keys(kStoryKeys);
  Story story;
  story.id = root.string("id", true, true).value_or("");
  story.title = root.string("title", false, false).value_or("");
  story.category = root.string("category", false, false).value_or("");
  story.text = root.string("text", false, false).value_or("");
  story.annotated = root.boolean("annotated").value_or(true);
  story.source_file = document.file;
  story.subjects = read_subjects(document, root, story.annotated, problems);
  story.scenes = read_scenes(document, root, story.subjects, story.annotated, problems);
  if (!story.annotated && (!story.subjects.empty() || !story.scenes.empty())) {
    problems.add(root.where("annotated"),
                 "is false but the story lists subjects or scenes; expected a raw story "
                 "(annotated: false) to have neither");
  }
  if (!story.annotated && core::trim(story.text).empty()) {
    problems.add(root.where("text"), "is empty; expected the story text of a raw story");
  }
  if (problems.size() != before) return;
  out.story_origins.push_back(document.at("", "id"));
  out.dataset.stories.push_back(std::move(story));
}

void read_dataset_json(const fs::path& file, Dataset& dataset, Problems& problems) {
  const auto bytes = read_bytes(file, problems);
  if (!bytes) return;
  const auto document = parse_json(file.string(), *bytes, 1, problems);
  if (!document) return;
  ObjectReader root(*document, document->value, "", "", problems);
  if (!root.ok()) return;
  root.reject_unknown_keys(kDatasetKeys);
  if (const auto name = root.string("name", false, true)) dataset.name = *name;
  for (const auto* key : {"description", "license", "licence", "source", "version"}) {
    root.string(key, false, false);
  }
}

}  // namespace

void read_jsonl(const fs::path& file, ReadResult& out, Problems& problems) {
  const fs::path folder = file.parent_path();
  if (fs::exists(folder / "dataset.json")) read_dataset_json(folder / "dataset.json", out.dataset, problems);
  const auto bytes = read_bytes(file, problems);
  if (!bytes) return;
  std::size_t start = 0;
  int line_number = 0;
  while (start < bytes->size()) {
    ++line_number;
    std::size_t end = bytes->find('\n', start);
    if (end == std::string::npos) end = bytes->size();
    const std::string_view line(bytes->data() + start, end - start);
    const std::size_t line_offset = start;
    start = end + 1;
    if (core::trim(line).empty()) continue;
    if (const auto document = parse_json(file.string(), line, line_number, problems, line_offset)) {
      read_story_line(*document, out, problems);
    }
  }
}

}  // namespace detail

std::string story_to_jsonl_line(const Story& story) {
  nlohmann::ordered_json line;
  line["id"] = story.id;
  line["title"] = story.title;
  line["category"] = story.category;
  line["text"] = story.text;
  if (!story.annotated) line["annotated"] = false;
  if (story.annotated || !story.subjects.empty()) {
    line["subjects"] = nlohmann::ordered_json::array();
    for (const auto& subject : story.subjects) {
      line["subjects"].push_back({{"name", subject.name},
                                  {"kind", subject.kind},
                                  {"description", subject.description},
                                  {"short_description", subject.short_description}});
    }
  }
  if (story.annotated || !story.scenes.empty()) {
    line["scenes"] = nlohmann::ordered_json::array();
    for (const auto& scene : story.scenes) {
      nlohmann::ordered_json item;
      item["text"] = scene.text;
      item["prompt"] = scene.prompt;
      item["subjects"] = nlohmann::ordered_json::array();
      for (const int index : scene.subjects) {
        if (index < 0 || static_cast<std::size_t>(index) >= story.subjects.size()) {
          throw core::RunError("story '" + story.id + "': scene subject index " + std::to_string(index) +
                               " out of range (" + std::to_string(story.subjects.size()) + " subjects)");
        }
        // Names read better and survive reordering of the subject list.
        item["subjects"].push_back(story.subjects[static_cast<std::size_t>(index)].name);
      }
      item["rewritten_prompt"] = scene.rewritten_prompt;
      if (!scene.subject_tokens.empty()) item["subject_tokens"] = scene.subject_tokens;
      line["scenes"].push_back(std::move(item));
    }
  }
  return line.dump();
}

void write_jsonl_dataset(const Dataset& dataset, const std::filesystem::path& folder) {
  std::string lines;
  for (const auto& story : dataset.stories) lines += story_to_jsonl_line(story) + "\n";
  core::write_file_atomic(folder / "stories.jsonl", lines);
  nlohmann::ordered_json meta;
  meta["name"] = dataset.name.empty() ? folder.filename().string() : dataset.name;
  core::write_file_atomic(folder / "dataset.json", meta.dump(2) + "\n");
}

}  // namespace dsbench::datasets
