// A YAML document as the config loader sees it: every value remembers the file and line
// that set it (for error messages and for resolving relative paths), `extends:` chains
// are merged, and problems are collected rather than thrown so `validate` can list them
// all. Internal to harness/config.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/errors.h"

namespace dsbench::harness::config_detail {

// Where a value came from.
struct Origin {
  std::string file;                // config file as the user named it, or "--set k=v"
  int line = 0;                    // 1-based; 0 = no line (overrides, defaults)
  std::filesystem::path base_dir;  // relative paths in this value resolve against it
};

struct Problem {
  core::Location where;
  std::string message;
};
using Problems = std::vector<Problem>;

struct Entry;

struct Node {
  enum class Kind { kNull, kScalar, kList, kMap };
  Kind kind = Kind::kNull;
  std::string text;     // kScalar
  bool quoted = false;  // kScalar: quoted or explicitly tagged, hence always a string
  std::vector<Node> items;      // kList
  std::vector<Entry> entries;   // kMap, in document order
  Origin origin;

  const Node* get(const std::string& key) const;
  Node* get(const std::string& key);
  Node& set(const std::string& key, Node value, const Origin& key_origin);  // replaces or appends
  void erase(const std::string& key);
  std::string describe() const;  // "a map", "a list", "the string 'x'", "3", "null"
};

struct Entry {
  std::string key;
  Origin key_origin;
  Node value;
};

// Loads `path` and everything it extends (relative to the including file; a list of
// bases merges in order, then the file itself on top). `display` is how the file is
// named in messages. A problem in one file stops that file only.
Node load_document(const std::filesystem::path& path, Problems& problems);

// Parses YAML text (an override's value) into a tree whose values all carry `origin`.
// Returns false and adds a problem on a syntax error.
bool parse_yaml_text(const std::string& text, const Origin& origin, Node& out, Problems& problems);

// Deep merge: maps merge key by key, anything else (lists included) is replaced.
void merge_into(Node& base, const Node& overlay);

// A JSON value as a tree (stored configs, schema defaults), every value carrying `origin`.
Node node_from_json(const nlohmann::json& value, const Origin& origin);

}  // namespace dsbench::harness::config_detail
