// The DS-500 data layer: stories with their subjects and scenes, read from the official
// release layout, from our own JSONL form, or from a folder of official per-case JSON
// files; validated with every problem listed at once; selected into deterministic
// subsets; and generated synthetically for scaling studies. No torch here.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/errors.h"

namespace dsbench::datasets {

// One recurring character (human, animal or object) of a story.
struct Subject {
  std::string name;               // unique within the story, e.g. "Hansel" or "00_cat"
  std::string kind;               // class word / detection keyword: "boy", "cat", "lamp"
  std::string description;        // full portrait prompt of the subject alone
  std::string short_description;  // phrase that replaces the name in rewritten prompts
};

// One image to generate.
struct Scene {
  std::string text;               // the story passage; may be empty
  std::string prompt;             // scene prompt (diffusion style, may use subject names)
  std::vector<int> subjects;      // indices into Story::subjects, in prompt order
  std::string rewritten_prompt;   // names replaced by short descriptions; may be empty
  core::Location origin;          // where the scene was read (file, line, field)
  // Official test-case name when the source has one ("07_boy_cat" in the synthetic
  // files, test_case_name in per-case JSON); empty otherwise.
  std::string case_name;
  // Token indices of each subject's phrase in `prompt` (parallel to `subjects`) when the
  // source gives them (official per-case JSON ref_token_idx); empty otherwise.
  std::vector<std::vector<int>> subject_tokens;
};

struct Story {
  std::string id;                 // unique within the dataset
  std::string title;
  std::string category;           // "synthetic-2-subject", "real-story", "fairy-tale", ...
  std::string text;               // the whole story text; may be empty
  std::vector<Subject> subjects;
  std::vector<Scene> scenes;
  // false for raw stories (Real-Stories-100) whose subjects/scenes must come from an
  // LLM director; such stories have empty `subjects` and `scenes`.
  bool annotated = true;
  std::string source_file;        // path of the file the story was read from
};

struct Dataset {
  std::string name;
  std::filesystem::path root;
  std::vector<Story> stories;     // deterministic order (see load_dataset)
};

// Which layout a root folder holds; load_dataset detects it.
enum class Layout {
  kOfficialRelease,   // Synthetic-Cases-400/ and/or Real-Stories-100/ (or one of them)
  kJsonl,             // stories.jsonl (+ optional dataset.json)
  kOfficialCaseJson,  // a folder of official per-case *.json files
};

struct Selection {
  std::vector<std::string> story_ids{};   // empty = all; order of the result stays dataset order
  std::vector<std::string> categories{};  // empty = all
  int limit = 0;                        // max stories, 0 = no limit (applied after filters)
  int max_scenes = 0;                   // truncate each story's scenes, 0 = keep all
};

struct Problem {
  core::Location where;
  std::string message;

  std::string to_string() const;  // "file:line: field: message"
};

// Detects the layout of `root` (a folder, or a stories.jsonl file); InputError if none.
Layout detect_layout(const std::filesystem::path& root);

// Config spellings: "ds500"/"official" -> kOfficialRelease, "jsonl"/"sample" -> kJsonl,
// "official-json" -> kOfficialCaseJson. InputError (with did-you-mean) otherwise.
Layout parse_layout(const std::string& name);

// Autodetects the layout and reads it; throws core::InputError (file:line: field: ...)
// on the first problem.
Dataset load_dataset(const std::filesystem::path& root);
Dataset load_dataset(const std::filesystem::path& root, Layout layout);

// Every problem at once; empty when the dataset is valid.
std::vector<Problem> validate_dataset(const std::filesystem::path& root);
std::vector<Problem> validate_dataset(const std::filesystem::path& root, Layout layout);

// Stories matching the selection, in dataset order; an unknown story id or category is
// an InputError with a did-you-mean hint.
Dataset select(const Dataset& dataset, const Selection& selection);

// Our JSONL form: one story per line (schema in datasets/README.md).
std::string story_to_jsonl_line(const Story& story);   // one line, no trailing newline
void write_jsonl_dataset(const Dataset& dataset, const std::filesystem::path& folder);

// Official per-case JSON (one scene per file): writes scene `scene_index` of `story`.
void write_official_case_json(const Story& story, std::size_t scene_index,
                              const std::filesystem::path& file);

struct ScalingOptions {
  int subjects = 4;        // N, 1..16
  int stories = 4;
  int scenes = 6;
  std::uint64_t seed = 0;
  // Subjects in each scene: 0 = all N in every scene (the default scaling axis);
  // k in 1..N = exactly k per scene, chosen so every subject appears in the story
  // (needs scenes * k >= N).
  int subjects_per_scene = 0;
};

// Stories with N subjects (humans, animals, objects with varied attributes), scenes
// covering every subject across each story; identical output for identical options.
// InputError for options out of range.
Dataset generate_scaling_dataset(const ScalingOptions& options);

// Reads {"subjects", "stories", "scenes", "seed", "subjects_per_scene"} (all optional;
// unknown keys and wrong types are InputErrors at `where`, with did-you-mean).
ScalingOptions parse_scaling_options(const nlohmann::json& params, const core::Location& where);

}  // namespace dsbench::datasets
