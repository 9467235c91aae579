// The config schema: one table of every key a run config may hold, with its type,
// default and allowed values. Adding a key to dsbench's configs means adding one row to
// the table in schema.cc (and a field to config.h if code reads it typed).
#pragma once

#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace dsbench::harness::schema {

enum class ValueType {
  kString,
  kInteger,   // signed 64-bit
  kUnsigned,  // unsigned 64-bit (seeds)
  kNumber,    // double
  kBoolean,
  kSection,   // a map whose keys are rows of the table
  kList,      // its element is the row "<path>[]"
  kFree,      // any YAML, passed through as JSON (system params, generator params)
};

enum class PathKind {
  kNone,
  kPath,       // relative values resolve against the directory of the file that set them
  kPathOrUrl,  // as kPath unless the value holds "://" (a database URL)
};

struct KeySpec {
  std::string path;  // dotted; list elements as "systems[]", e.g. "systems[].type"
  ValueType type = ValueType::kString;
  nlohmann::json fallback = nullptr;  // the default when the key is absent; null = none
  bool required = false;
  std::vector<std::string> allowed = {};  // allowed string values (empty = any)
  double minimum = -std::numeric_limits<double>::infinity();  // numbers: value; lists: items
  double maximum = std::numeric_limits<double>::infinity();
  PathKind path_kind = PathKind::kNone;
  bool must_exist = false;      // a non-empty path must exist on disk
  std::string shorthand = {};   // sections: a scalar given instead of the map sets this key
  std::string help = {};
};

const std::vector<KeySpec>& table();

// The row for `path` ("sampler.steps", "systems[].params"), or nullptr.
const KeySpec* find(std::string_view path);

// Keys directly under a section path ("" for the top level), in table order.
std::vector<std::string> children(std::string_view section_path);

std::string type_name(ValueType type);

}  // namespace dsbench::harness::schema
