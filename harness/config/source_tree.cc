#include "harness/config/source_tree.h"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <sstream>

#include "core/text.h"

namespace dsbench::harness::config_detail {
namespace fs = std::filesystem;

const Node* Node::get(const std::string& key) const {
  for (const auto& entry : entries) {
    if (entry.key == key) return &entry.value;
  }
  return nullptr;
}

Node* Node::get(const std::string& key) {
  for (auto& entry : entries) {
    if (entry.key == key) return &entry.value;
  }
  return nullptr;
}

Node& Node::set(const std::string& key, Node value, const Origin& key_origin) {
  if (Node* existing = get(key)) {
    *existing = std::move(value);
    return *existing;
  }
  entries.push_back(Entry{key, key_origin, std::move(value)});
  return entries.back().value;
}

void Node::erase(const std::string& key) {
  std::erase_if(entries, [&](const Entry& entry) { return entry.key == key; });
}

std::string Node::describe() const {
  switch (kind) {
    case Kind::kNull: return "nothing (null)";
    case Kind::kList: return "a list";
    case Kind::kMap: return "a map";
    case Kind::kScalar: return quoted ? "the string \"" + text + "\"" : "'" + text + "'";
  }
  return "a value";
}

namespace {

int line_of(const YAML::Mark& mark) { return mark.is_null() ? 0 : mark.line + 1; }

// Converts yaml-cpp's tree, keeping lines. Duplicate keys (which yaml-cpp accepts
// silently, keeping the first) are problems: the user meant one of them.
Node convert(const YAML::Node& yaml, const Origin& file_origin, int fallback_line, Problems& problems) {
  Node node;
  node.origin = file_origin;
  node.origin.line = yaml.Type() == YAML::NodeType::Null ? fallback_line : line_of(yaml.Mark());
  if (node.origin.line == 0) node.origin.line = fallback_line;
  switch (yaml.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      node.kind = Node::Kind::kNull;
      break;
    case YAML::NodeType::Scalar:
      node.kind = Node::Kind::kScalar;
      node.text = yaml.Scalar();
      node.quoted = yaml.Tag() != "?";
      break;
    case YAML::NodeType::Sequence:
      node.kind = Node::Kind::kList;
      for (const auto& item : yaml) node.items.push_back(convert(item, file_origin, node.origin.line, problems));
      break;
    case YAML::NodeType::Map:
      node.kind = Node::Kind::kMap;
      for (auto it = yaml.begin(); it != yaml.end(); ++it) {
        Origin key_origin = file_origin;
        key_origin.line = line_of(it->first.Mark());
        if (!it->first.IsScalar()) {
          problems.push_back({{file_origin.file, key_origin.line, ""}, "a map key must be a plain word"});
          continue;
        }
        const std::string key = it->first.Scalar();
        if (const Node* first = node.get(key)) {
          const int first_line = [&] {
            for (const auto& entry : node.entries)
              if (entry.key == key) return entry.key_origin.line;
            return first->origin.line;
          }();
          problems.push_back({{file_origin.file, key_origin.line, key},
                              "duplicate key (first set on line " + std::to_string(first_line) + ")"});
          continue;
        }
        node.entries.push_back(Entry{key, key_origin, convert(it->second, file_origin, key_origin.line, problems)});
      }
      break;
  }
  return node;
}

bool parse_yaml(const std::string& text, const Origin& origin, Node& out, Problems& problems) {
  YAML::Node yaml;
  try {
    yaml = YAML::Load(text);
  } catch (const YAML::ParserException& error) {
    problems.push_back({{origin.file, origin.line > 0 ? origin.line : line_of(error.mark), ""},
                        "YAML syntax error: " + error.msg});
    return false;
  } catch (const YAML::Exception& error) {
    problems.push_back({{origin.file, origin.line, ""}, std::string("YAML error: ") + error.what()});
    return false;
  }
  out = convert(yaml, origin, origin.line > 0 ? origin.line : 1, problems);
  return true;
}

std::string display_name(const fs::path& path) { return path.lexically_normal().string(); }

std::string chain_text(const std::vector<fs::path>& chain, const fs::path& last) {
  std::string text;
  for (const auto& file : chain) text += display_name(file) + " -> ";
  return text + display_name(last);
}

struct Loader {
  Problems& problems;
  std::vector<fs::path> chain;         // files being loaded, as displayed
  std::vector<fs::path> chain_canonical;

  // Returns false when the file could not be read or parsed at all.
  bool load(const fs::path& path, Node& out) {
    const std::string name = display_name(path);
    std::ifstream stream(path, std::ios::binary);
    if (!stream) return false;  // the caller reports it with the right location
    std::ostringstream buffer;
    buffer << stream.rdbuf();
    Origin origin{name, 0, path.parent_path().empty() ? fs::path(".") : path.parent_path()};
    if (!parse_yaml(buffer.str(), origin, out, problems)) {
      out = Node{};
      out.kind = Node::Kind::kMap;
      out.origin = Origin{name, 1, origin.base_dir};
      return true;
    }
    if (out.kind == Node::Kind::kNull) {
      out.kind = Node::Kind::kMap;  // an empty file is an empty config
      out.origin.line = 1;
    }
    if (out.kind != Node::Kind::kMap) {
      problems.push_back({{name, out.origin.line, ""}, "a config file must be a map of keys, not " + out.describe()});
      out = Node{};
      out.kind = Node::Kind::kMap;
      out.origin = Origin{name, 1, origin.base_dir};
      return true;
    }
    const Node* extends = out.get("extends");
    if (extends == nullptr) return true;
    Node bases;
    bases.kind = Node::Kind::kMap;
    bases.origin = out.origin;
    for (const Node& target : extends_targets(*extends, name)) {
      Node base;
      if (load_base(path, target, base)) merge_into(bases, base);
    }
    out.erase("extends");
    merge_into(bases, out);
    out = std::move(bases);
    return true;
  }

  std::vector<Node> extends_targets(const Node& extends, const std::string& file) {
    if (extends.kind == Node::Kind::kScalar) return {extends};
    if (extends.kind == Node::Kind::kList) {
      std::vector<Node> targets;
      for (const auto& item : extends.items) {
        if (item.kind == Node::Kind::kScalar) {
          targets.push_back(item);
        } else {
          problems.push_back({{file, item.origin.line, "extends"}, "expected a file name, got " + item.describe()});
        }
      }
      return targets;
    }
    problems.push_back({{file, extends.origin.line, "extends"},
                        "expected a file name or a list of file names, got " + extends.describe()});
    return {};
  }

  bool load_base(const fs::path& including, const Node& target, Node& out) {
    const std::string including_name = display_name(including);
    const fs::path path = fs::path(target.text).is_absolute() ? fs::path(target.text)
                                                              : including.parent_path() / target.text;
    std::error_code error;
    const fs::path canonical = fs::weakly_canonical(path, error);
    for (const auto& seen : chain_canonical) {
      if (seen == canonical) {
        problems.push_back({{including_name, target.origin.line, "extends"},
                            "extends cycle: " + chain_text(chain, path)});
        return false;
      }
    }
    if (!fs::is_regular_file(path, error)) {
      problems.push_back({{including_name, target.origin.line, "extends"},
                          "file not found: " + display_name(path) +
                              " (extends is relative to the file that names it)"});
      return false;
    }
    chain.push_back(path);
    chain_canonical.push_back(canonical);
    const bool loaded = load(path, out);
    chain.pop_back();
    chain_canonical.pop_back();
    if (!loaded) {
      problems.push_back({{including_name, target.origin.line, "extends"}, "cannot read " + display_name(path)});
    }
    return loaded;
  }
};

}  // namespace

Node load_document(const fs::path& path, Problems& problems) {
  Loader loader{problems, {path}, {}};
  std::error_code error;
  loader.chain_canonical.push_back(fs::weakly_canonical(path, error));
  Node document;
  if (!fs::is_regular_file(path, error)) {
    problems.push_back({{display_name(path), 0, ""}, fs::exists(path, error) ? "not a regular file" : "config file not found"});
    document.kind = Node::Kind::kMap;
    return document;
  }
  if (!loader.load(path, document)) {
    problems.push_back({{display_name(path), 0, ""}, "cannot read the config file"});
    document = Node{};
    document.kind = Node::Kind::kMap;
  }
  return document;
}

namespace {
void set_origin(Node& node, const Origin& origin) {
  node.origin = origin;
  for (auto& item : node.items) set_origin(item, origin);
  for (auto& entry : node.entries) {
    entry.key_origin = origin;
    set_origin(entry.value, origin);
  }
}
}  // namespace

bool parse_yaml_text(const std::string& text, const Origin& origin, Node& out, Problems& problems) {
  if (!parse_yaml(text, origin, out, problems)) {
    problems.back().where.line = origin.line;
    return false;
  }
  set_origin(out, origin);  // the text's own lines mean nothing to the user
  return true;
}

void merge_into(Node& base, const Node& overlay) {
  if (base.kind != Node::Kind::kMap || overlay.kind != Node::Kind::kMap) {
    base = overlay;
    return;
  }
  base.origin = overlay.origin;
  for (const auto& entry : overlay.entries) {
    if (Node* existing = base.get(entry.key)) {
      merge_into(*existing, entry.value);
    } else {
      base.entries.push_back(entry);
    }
  }
}

Node node_from_json(const nlohmann::json& value, const Origin& origin) {
  Node node;
  node.origin = origin;
  if (value.is_object()) {
    node.kind = Node::Kind::kMap;
    for (const auto& [key, item] : value.items()) node.entries.push_back(Entry{key, origin, node_from_json(item, origin)});
  } else if (value.is_array()) {
    node.kind = Node::Kind::kList;
    for (const auto& item : value) node.items.push_back(node_from_json(item, origin));
  } else if (value.is_string()) {
    node.kind = Node::Kind::kScalar;
    node.text = value.get<std::string>();
    node.quoted = true;
  } else if (!value.is_null()) {
    node.kind = Node::Kind::kScalar;
    node.text = value.dump();
  }
  return node;
}

}  // namespace dsbench::harness::config_detail
