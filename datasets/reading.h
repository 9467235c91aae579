// Internals shared by the dataset readers: problem collection, UTF-8 checks, JSON
// parsing with line numbers for every value, and typed field access that records a
// Problem instead of throwing. Not part of the public API.
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "datasets/dataset.h"

namespace dsbench::datasets::detail {

class Problems {
 public:
  void add(const core::Location& where, std::string message) {
    list_.push_back(Problem{where, std::move(message)});
  }
  std::size_t size() const { return list_.size(); }
  const std::vector<Problem>& list() const { return list_; }
  std::vector<Problem> take() { return std::move(list_); }

 private:
  std::vector<Problem> list_;
};

// Byte offset of the first byte that is not part of a well-formed UTF-8 sequence
// (overlong forms, surrogates and code points above U+10FFFF are ill-formed).
std::optional<std::size_t> first_invalid_utf8(std::string_view bytes);

// 1-based line of a byte offset.
int line_of_offset(std::string_view text, std::size_t offset);

// Maps every value of a well-formed JSON text to the line it starts on, keyed by JSON
// pointer ("/scenes/3/prompt"), so semantic problems can name a line.
class JsonLines {
 public:
  JsonLines() = default;
  JsonLines(std::string_view text, int first_line);
  // Line of the value at `pointer`, or of its nearest ancestor that exists.
  int line(const std::string& pointer) const;

 private:
  std::unordered_map<std::string, int> lines_;
  int first_line_ = 1;
};

// A parsed JSON document (a whole file, or one JSONL line) that knows where its values are.
struct JsonDocument {
  std::string file;
  nlohmann::json value;
  JsonLines lines;

  core::Location at(const std::string& pointer, const std::string& field) const {
    return core::Location{file, lines.line(pointer), field};
  }
};

// Parses `text` (which starts at `first_line` and byte `first_offset` of `file`);
// records UTF-8 and syntax problems and returns nothing on failure.
std::optional<JsonDocument> parse_json(const std::string& file, std::string_view text,
                                       int first_line, Problems& problems,
                                       std::size_t first_offset = 0);

// Reads a file as bytes; a Problem (not an exception) when it cannot be read.
std::optional<std::string> read_bytes(const std::filesystem::path& path, Problems& problems);

// "scenes[3].subjects" <-> "/scenes/3/subjects" helpers for messages.
std::string json_type_name(const nlohmann::json& value);

// A cursor on one JSON object value with typed, problem-recording accessors.
class ObjectReader {
 public:
  // `pointer` and `field` name the object itself ("" for the root).
  ObjectReader(const JsonDocument& document, const nlohmann::json& object, std::string pointer,
               std::string field, Problems& problems);

  bool ok() const { return is_object_; }
  bool has(const std::string& key) const;
  const nlohmann::json* get(const std::string& key) const;

  // Missing + required or wrong type -> Problem, returns nullopt / fallback.
  std::optional<std::string> string(const std::string& key, bool required, bool non_empty);
  std::optional<bool> boolean(const std::string& key);
  const nlohmann::json* array(const std::string& key, bool required);
  const nlohmann::json* object(const std::string& key, bool required);

  // Problems for keys not in `allowed` (with did-you-mean).
  void reject_unknown_keys(const std::vector<std::string>& allowed);

  std::string child_pointer(const std::string& key) const { return pointer_ + "/" + escape(key); }
  std::string child_field(const std::string& key) const {
    return field_.empty() ? key : field_ + "." + key;
  }
  core::Location where(const std::string& key) const;
  core::Location self() const;

  static std::string escape(const std::string& key);

 private:
  const JsonDocument& document_;
  const nlohmann::json& object_;
  std::string pointer_;
  std::string field_;
  Problems& problems_;
  bool is_object_ = false;
};

// Element helpers for arrays.
inline std::string element_pointer(const std::string& pointer, std::size_t index) {
  return pointer + "/" + std::to_string(index);
}
inline std::string element_field(const std::string& field, std::size_t index) {
  return field + "[" + std::to_string(index) + "]";
}

// Readers. Each appends stories with their origins and records every problem it finds.
struct ReadResult {
  Dataset dataset;
  std::vector<core::Location> story_origins;  // parallel to dataset.stories
};

// A folder with no_subject_meta.json or <k>-subject_meta.json directly inside.
bool holds_synthetic_files(const std::filesystem::path& folder);

void read_official_release(const std::filesystem::path& root, ReadResult& out, Problems& problems);
void read_jsonl(const std::filesystem::path& file, ReadResult& out, Problems& problems);
// Every *.json below `folder` except dataset.json, sorted by path.
std::vector<std::filesystem::path> case_json_files(const std::filesystem::path& folder);
void read_case_json_folder(const std::filesystem::path& folder, ReadResult& out,
                           Problems& problems);

// Checks shared by every layout: empty dataset, duplicate story ids, duplicate subject
// names within a story.
void check_dataset(const ReadResult& result, const std::string& root_label, Problems& problems);

}  // namespace dsbench::datasets::detail
