// The official per-case JSON (DreamStory results/examples/example.json and the output of
// its data.py pre-processing): one scene with its subjects per file. Each file becomes a
// one-scene Story. Token-index fields other than ref_token_idx depend on the model's
// tokenizer; they are read for validation and written empty.
#include <algorithm>

#include "core/errors.h"
#include "core/files.h"
#include "core/text.h"
#include "datasets/reading.h"

namespace dsbench::datasets {
namespace detail {
namespace {

namespace fs = std::filesystem;

bool is_int_list(const nlohmann::json& value) {
  return value.is_array() &&
         std::all_of(value.begin(), value.end(), [](const auto& v) { return v.is_number_integer(); });
}

bool is_string_list(const nlohmann::json& value) {
  return value.is_array() &&
         std::all_of(value.begin(), value.end(), [](const auto& v) { return v.is_string(); });
}

Subject read_case_subject(const JsonDocument& document, const nlohmann::json& value,
                          std::size_t index, Problems& problems) {
  ObjectReader item(document, value, element_pointer("/subjects", index),
                    element_field("subjects", index), problems);
  Subject subject;
  if (!item.ok()) return subject;
  subject.name = item.string("subject_name", true, true).value_or("");
  subject.description = item.string("prompt", true, true).value_or("");
  subject.kind = item.string("subject_detection_keywords", true, true).value_or("");
  item.object("word_token_idx", false);
  if (const auto* words = item.get("subject_word"); words != nullptr && !is_string_list(*words)) {
    problems.add(item.where("subject_word"), "expected a list of strings");
  }
  if (const auto* tokens = item.get("ref_token_idx"); tokens != nullptr && !is_int_list(*tokens)) {
    problems.add(item.where("ref_token_idx"), "expected a list of token indices (integers)");
  }
  return subject;
}

void read_case_file(const fs::path& file, ReadResult& out, Problems& problems) {
  const std::size_t before = problems.size();
  const auto bytes = read_bytes(file, problems);
  if (!bytes) return;
  const auto document = parse_json(file.string(), *bytes, 1, problems);
  if (!document) return;
  ObjectReader root(*document, document->value, "", "", problems);
  if (!root.ok()) return;
  const auto name = root.string("test_case_name", true, true);
  std::vector<Subject> subjects;
  if (const auto* list = root.array("subjects", true)) {
    for (std::size_t i = 0; i < list->size(); ++i) {
      subjects.push_back(read_case_subject(*document, (*list)[i], i, problems));
    }
  }
  Scene scene;
  if (const auto* scene_value = root.object("scene", true)) {
    ObjectReader item(*document, *scene_value, "/scene", "scene", problems);
    scene.prompt = item.string("prompt", true, true).value_or("");
    scene.origin = item.where("prompt");
    item.object("word_token_idx", false);
    if (const auto* words = item.array("subject_word", false)) {
      if (words->size() != subjects.size()) {
        problems.add(item.where("subject_word"),
                     "has " + std::to_string(words->size()) + " entries; expected " +
                         std::to_string(subjects.size()) + " (one per subject)");
      }
      for (std::size_t i = 0; i < words->size(); ++i) {
        if (!is_string_list((*words)[i])) {
          problems.add(document->at(element_pointer("/scene/subject_word", i),
                                    element_field("scene.subject_word", i)),
                       "expected a list of strings, found " + json_type_name((*words)[i]));
        }
      }
    }
    if (const auto* tokens = item.array("ref_token_idx", false)) {
      if (tokens->size() != subjects.size()) {
        problems.add(item.where("ref_token_idx"),
                     "has " + std::to_string(tokens->size()) + " entries; expected " +
                         std::to_string(subjects.size()) + " (one list of token indices per subject)");
      } else {
        for (std::size_t i = 0; i < tokens->size(); ++i) {
          if (!is_int_list((*tokens)[i])) {
            problems.add(document->at(element_pointer("/scene/ref_token_idx", i),
                                      element_field("scene.ref_token_idx", i)),
                         "expected a list of token indices (integers), found " +
                             (*tokens)[i].dump());
            continue;
          }
          scene.subject_tokens.push_back((*tokens)[i].get<std::vector<int>>());
        }
        const bool any = std::any_of(scene.subject_tokens.begin(), scene.subject_tokens.end(),
                                     [](const auto& t) { return !t.empty(); });
        if (!any) scene.subject_tokens.clear();
      }
    }
  }
  for (std::size_t i = 0; i < subjects.size(); ++i) scene.subjects.push_back(static_cast<int>(i));
  if (problems.size() != before) return;
  Story story;
  story.id = *name;
  story.title = *name;
  story.category = "official-case";
  story.subjects = std::move(subjects);
  scene.case_name = *name;
  story.scenes.push_back(std::move(scene));
  story.source_file = file.string();
  out.story_origins.push_back(document->at("/test_case_name", "test_case_name"));
  out.dataset.stories.push_back(std::move(story));
}

}  // namespace

std::vector<fs::path> case_json_files(const fs::path& folder) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::recursive_directory_iterator(folder)) {
    const auto& path = entry.path();
    if (!entry.is_regular_file() || path.extension() != ".json") continue;
    if (path.filename() == "dataset.json" || path.filename().string().starts_with(".")) continue;
    files.push_back(path);
  }
  std::sort(files.begin(), files.end());
  return files;
}

void read_case_json_folder(const fs::path& folder, ReadResult& out, Problems& problems) {
  const auto files = case_json_files(folder);
  if (files.empty()) {
    problems.add(core::Location{folder.string(), 0, ""}, "no *.json case files");
  }
  for (const auto& file : files) read_case_file(file, out, problems);
}

}  // namespace detail

void write_official_case_json(const Story& story, std::size_t scene_index,
                              const std::filesystem::path& file) {
  if (scene_index >= story.scenes.size()) {
    throw core::RunError("story '" + story.id + "' has no scene " + std::to_string(scene_index));
  }
  const Scene& scene = story.scenes[scene_index];
  for (const int index : scene.subjects) {
    if (index < 0 || static_cast<std::size_t>(index) >= story.subjects.size()) {
      throw core::RunError("story '" + story.id + "': scene subject index " + std::to_string(index) +
                           " out of range (" + std::to_string(story.subjects.size()) + " subjects)");
    }
  }
  std::string name = scene.case_name;
  if (name.empty()) {
    name = (scene_index < 10 ? "0" : "") + std::to_string(scene_index);
    for (const int index : scene.subjects) name += "_" + story.subjects.at(static_cast<std::size_t>(index)).kind;
  }
  nlohmann::ordered_json out;
  out["test_case_name"] = name;
  out["subjects"] = nlohmann::ordered_json::array();
  nlohmann::ordered_json words = nlohmann::ordered_json::array();
  for (const int index : scene.subjects) {
    const Subject& subject = story.subjects.at(static_cast<std::size_t>(index));
    out["subjects"].push_back({{"subject_name", subject.name},
                               {"prompt", subject.description},
                               {"subject_detection_keywords", subject.kind},
                               {"word_token_idx", nlohmann::ordered_json::object()},
                               {"subject_word", {subject.kind}},
                               {"ref_token_idx", nlohmann::ordered_json::array()}});
    words.push_back({subject.kind});
  }
  nlohmann::ordered_json tokens = nlohmann::ordered_json::array();
  for (std::size_t i = 0; i < scene.subjects.size(); ++i) {
    tokens.push_back(i < scene.subject_tokens.size() ? nlohmann::ordered_json(scene.subject_tokens[i])
                                                     : nlohmann::ordered_json::array());
  }
  out["scene"] = {{"prompt", scene.prompt},
                  {"word_token_idx", nlohmann::ordered_json::object()},
                  {"subject_word", words},
                  {"ref_token_idx", tokens}};
  // Indented by 4 like the official json.dump(indent=4).
  core::write_file_atomic(file, out.dump(4) + "\n");
}

}  // namespace dsbench::datasets
