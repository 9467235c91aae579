#include "harness/config/overrides.h"

#include <charconv>
#include <optional>

#include "core/text.h"
#include "harness/config/schema.h"

namespace dsbench::harness::config_detail {
namespace {

struct Segment {
  std::string key;  // empty for a list index
  int index = -1;
};

std::optional<std::vector<Segment>> parse_path(const std::string& path) {
  std::vector<Segment> segments;
  std::size_t i = 0;
  bool expect_key = true;
  while (i < path.size()) {
    if (path[i] == '[') {
      const auto close = path.find(']', i);
      if (close == std::string::npos || segments.empty()) return std::nullopt;
      int index = 0;
      const char* first = path.data() + i + 1;
      const char* last = path.data() + close;
      const auto [end, error] = std::from_chars(first, last, index);
      if (error != std::errc{} || end != last || first == last || index < 0) return std::nullopt;
      segments.push_back({"", index});
      i = close + 1;
      expect_key = false;
    } else if (path[i] == '.') {
      if (expect_key) return std::nullopt;  // ".." or a leading dot
      ++i;
      expect_key = true;
    } else {
      if (!expect_key) return std::nullopt;  // "a[0]b"
      const auto end = path.find_first_of(".[", i);
      const std::string key = path.substr(i, end == std::string::npos ? std::string::npos : end - i);
      if (key.find_first_of("] \t") != std::string::npos) return std::nullopt;
      segments.push_back({key, -1});
      i = end == std::string::npos ? path.size() : end;
      expect_key = false;
    }
  }
  if (segments.empty() || expect_key) return std::nullopt;
  return segments;
}

std::string dotted(const std::vector<Segment>& segments, std::size_t count) {
  std::string text;
  for (std::size_t i = 0; i < count && i < segments.size(); ++i) {
    if (segments[i].index >= 0) {
      text += "[" + std::to_string(segments[i].index) + "]";
    } else {
      text += (text.empty() ? "" : ".") + segments[i].key;
    }
  }
  return text;
}

// Checks the path against the schema; below a free-form key (params) anything goes.
bool check_against_schema(const std::vector<Segment>& segments, const std::string& file, Problems& problems) {
  std::string schema_path;
  for (std::size_t i = 0; i < segments.size(); ++i) {
    const schema::KeySpec* current = schema_path.empty() ? nullptr : schema::find(schema_path);
    if (current != nullptr && current->type == schema::ValueType::kFree) return true;
    const std::string so_far = dotted(segments, i + 1);
    if (segments[i].index >= 0) {
      if (current == nullptr || current->type != schema::ValueType::kList) {
        problems.push_back({{file, 0, so_far}, "'" + dotted(segments, i) + "' is not a list, it cannot be indexed"});
        return false;
      }
      schema_path += "[]";
      continue;
    }
    if (current != nullptr && current->type != schema::ValueType::kSection) {
      problems.push_back({{file, 0, so_far},
                          "'" + dotted(segments, i) + "' is " + schema::type_name(current->type) + ", it has no keys"});
      return false;
    }
    const std::string candidate = schema_path.empty() ? segments[i].key : schema_path + "." + segments[i].key;
    if (schema::find(candidate) == nullptr) {
      const auto known = schema::children(schema_path);
      problems.push_back({{file, 0, so_far},
                          "unknown key '" + segments[i].key + "'" +
                              (schema_path.empty() ? "" : " in " + dotted(segments, i)) +
                              core::did_you_mean(segments[i].key, known) + "; known keys: " + core::join(known, ", ")});
      return false;
    }
    schema_path = candidate;
  }
  return true;
}

}  // namespace

bool apply_override(Node& document, const std::string& override_text, Problems& problems) {
  const std::string file = "--set " + override_text;
  const auto equals = override_text.find('=');
  if (equals == std::string::npos) {
    problems.push_back({{file, 0, ""}, "expected key.path=value, e.g. sampler.steps=4 or systems[1].params.lambda=0.8"});
    return false;
  }
  const std::string path = core::trim(override_text.substr(0, equals));
  const auto segments = parse_path(path);
  if (!segments) {
    problems.push_back({{file, 0, path}, "malformed key path: use dotted keys and [index], e.g. systems[1].params.lambda"});
    return false;
  }
  if (!check_against_schema(*segments, file, problems)) return false;

  std::error_code error;
  const Origin origin{file, 0, std::filesystem::current_path(error)};
  Node value;
  if (!parse_yaml_text(override_text.substr(equals + 1), origin, value, problems)) return false;

  Node* current = &document;
  for (std::size_t i = 0; i < segments->size(); ++i) {
    const Segment& segment = (*segments)[i];
    if (segment.index >= 0) {
      if (current->kind != Node::Kind::kList) {
        current->kind = Node::Kind::kList;
        current->items.clear();
        current->origin = origin;
      }
      const auto size = static_cast<int>(current->items.size());
      if (segment.index > size) {
        problems.push_back({{file, 0, dotted(*segments, i + 1)},
                            "index " + std::to_string(segment.index) + " is past the end: '" + dotted(*segments, i) +
                                "' has " + std::to_string(size) + " item(s); [" + std::to_string(size) +
                                "] appends one"});
        return false;
      }
      if (segment.index == size) {
        Node appended;
        appended.origin = origin;
        current->items.push_back(appended);
      }
      current = &current->items[static_cast<std::size_t>(segment.index)];
    } else {
      if (current->kind != Node::Kind::kMap) {
        *current = Node{};
        current->kind = Node::Kind::kMap;
        current->origin = origin;
      }
      Node* child = current->get(segment.key);
      if (child == nullptr) {
        Node created;
        created.origin = origin;
        child = &current->set(segment.key, created, origin);
      }
      current = child;
    }
  }
  merge_into(*current, value);
  return true;
}

}  // namespace dsbench::harness::config_detail
