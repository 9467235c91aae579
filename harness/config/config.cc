#include "harness/config/config.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <variant>

#include "core/hashing.h"
#include "core/text.h"
#include "harness/config/overrides.h"
#include "harness/config/schema.h"
#include "harness/config/source_tree.h"
#include "metrics/catalogue.h"

namespace dsbench::harness {
namespace {

namespace fs = std::filesystem;
using config_detail::Node;
using config_detail::Origin;
using config_detail::Problem;
using config_detail::Problems;
using nlohmann::json;
using schema::KeySpec;
using schema::ValueType;

struct Options {
  bool expand_env = true;     // ${VAR} references in string values
  bool resolve_paths = true;  // relative paths against the file that set them
  bool check_exists = true;   // must_exist paths
};

bool valid_variable_name(std::string_view name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
  for (const char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  }
  return true;
}

struct Expanded {
  std::string text;
  bool starts_with_environment = false;  // the value begins with a set variable's content
};

std::optional<std::int64_t> parse_integer(std::string text) {
  if (!text.empty() && text[0] == '+') text.erase(0, 1);
  std::int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

std::optional<std::uint64_t> parse_unsigned(std::string text) {
  if (!text.empty() && text[0] == '+') text.erase(0, 1);
  std::uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

std::optional<double> parse_number(std::string text) {
  if (!text.empty() && text[0] == '+') text.erase(0, 1);
  double value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end != text.data() + text.size() || text.empty() || !std::isfinite(value)) {
    return std::nullopt;
  }
  return value;
}

std::optional<bool> parse_boolean(const std::string& text) {
  const std::string lower = core::to_lower_ascii(text);
  if (lower == "true" || lower == "yes" || lower == "on") return true;
  if (lower == "false" || lower == "no" || lower == "off") return false;
  return std::nullopt;
}

std::string format_number(double value) {
  if (std::abs(value) < 1e15 && value == std::floor(value)) return std::to_string(static_cast<std::int64_t>(value));
  return json(value).dump();
}

// Checks a document (merged YAML, or a stored resolved config) against the schema and
// produces the resolved JSON: defaults filled, ${VAR} expanded, paths absolute.
class Validator {
 public:
  Validator(Problems& problems, Options options) : problems_(problems), options_(options) {}

  json document(const Node& root) {
    Origin key_origin = root.origin;
    return section(root, "", "", key_origin);
  }

 private:
  void report(const Origin& origin, const std::string& key, const std::string& message) {
    problems_.push_back({{origin.file, origin.line, key}, message});
  }

  json section(const Node& node, const std::string& schema_path, const std::string& key, const Origin& key_origin) {
    const KeySpec* spec = schema_path.empty() ? nullptr : schema::find(schema_path);
    Node map;
    if (node.kind == Node::Kind::kMap) {
      map = node;
    } else if (node.kind == Node::Kind::kNull) {
      map.kind = Node::Kind::kMap;
      map.origin = node.origin.file.empty() ? key_origin : node.origin;
    } else if (node.kind == Node::Kind::kScalar && spec != nullptr && !spec->shorthand.empty()) {
      map.kind = Node::Kind::kMap;
      map.origin = node.origin;
      map.entries.push_back({spec->shorthand, node.origin, node});
    } else {
      report(node.origin, key,
             "expected a map of keys (" + core::join(schema::children(schema_path), ", ") + "), got " + node.describe());
      map.kind = Node::Kind::kMap;
      map.origin = node.origin;
    }

    json result = json::object();
    const auto known = schema::children(schema_path);
    for (const auto& entry : map.entries) {
      const std::string child_key = key.empty() ? entry.key : key + "." + entry.key;
      const std::string child_path = schema_path.empty() ? entry.key : schema_path + "." + entry.key;
      const KeySpec* child = std::find(known.begin(), known.end(), entry.key) == known.end()
                                 ? nullptr
                                 : schema::find(child_path);
      if (child == nullptr) {
        report(entry.key_origin, child_key,
               "unknown key '" + entry.key + "'" + core::did_you_mean(entry.key, known) +
                   "; known keys here: " + core::join(known, ", "));
        continue;
      }
      if (entry.value.kind == Node::Kind::kNull) continue;  // null = use the default
      result[entry.key] = value(entry.value, *child, child_key, entry.key_origin);
    }
    for (const auto& name : known) {
      if (result.contains(name)) continue;
      const KeySpec& child = *schema::find(schema_path.empty() ? name : schema_path + "." + name);
      const std::string child_key = key.empty() ? name : key + "." + name;
      if (child.required) {
        report(map.origin, child_key, "missing required key '" + name + "'" +
                                          (key.empty() ? "" : " in " + key) +
                                          (child.help.empty() ? "" : " (" + child.help + ")"));
        continue;
      }
      if (child.type == ValueType::kSection || !child.fallback.is_null()) {
        // Defaults go through the same checks, so a list default fills its items' defaults
        // and a default section its keys'. They belong to the enclosing map: a relative
        // default path resolves against its file, a missing key inside is reported there.
        result[name] = value(config_detail::node_from_json(child.fallback, map.origin), child, child_key,
                             map.origin);
      }
    }
    return result;
  }

  json value(const Node& node, const KeySpec& spec, const std::string& key, const Origin& key_origin) {
    const Origin& where = node.origin.file.empty() ? key_origin : node.origin;
    switch (spec.type) {
      case ValueType::kSection:
        return section(node, spec.path, key, key_origin);
      case ValueType::kList:
        return list(node, spec, key, key_origin);
      case ValueType::kFree:
        return free_form(node, key);
      default:
        break;
    }
    if (node.kind != Node::Kind::kScalar) {
      report(where, key, "expected " + schema::type_name(spec.type) + ", got " + node.describe());
      return nullptr;
    }
    if (spec.type == ValueType::kString) return string_value(node, spec, key);
    if (node.quoted) {
      report(where, key, "expected " + schema::type_name(spec.type) + ", got " + node.describe() +
                             " (remove the quotes)");
      return nullptr;
    }
    const std::string& text = node.text;
    switch (spec.type) {
      case ValueType::kInteger: {
        const auto parsed = parse_integer(text);
        if (!parsed) return type_error(where, key, spec, node);
        return in_range(where, key, spec, static_cast<double>(*parsed)) ? json(*parsed) : json(nullptr);
      }
      case ValueType::kUnsigned: {
        const auto parsed = parse_unsigned(text);
        if (!parsed) return type_error(where, key, spec, node);
        return in_range(where, key, spec, static_cast<double>(*parsed)) ? json(*parsed) : json(nullptr);
      }
      case ValueType::kNumber: {
        const auto parsed = parse_number(text);
        if (!parsed) return type_error(where, key, spec, node);
        return in_range(where, key, spec, *parsed) ? json(*parsed) : json(nullptr);
      }
      case ValueType::kBoolean: {
        const auto parsed = parse_boolean(text);
        if (!parsed) return type_error(where, key, spec, node);
        return *parsed;
      }
      default:
        return nullptr;
    }
  }

  json type_error(const Origin& where, const std::string& key, const KeySpec& spec, const Node& node) {
    report(where, key, "expected " + schema::type_name(spec.type) + ", got " + node.describe());
    return nullptr;
  }

  bool in_range(const Origin& where, const std::string& key, const KeySpec& spec, double number) {
    if (number >= spec.minimum && number <= spec.maximum) return true;
    std::string range;
    if (std::isfinite(spec.minimum) && std::isfinite(spec.maximum)) {
      range = "between " + format_number(spec.minimum) + " and " + format_number(spec.maximum);
    } else if (std::isfinite(spec.minimum)) {
      range = "at least " + format_number(spec.minimum);
    } else {
      range = "at most " + format_number(spec.maximum);
    }
    report(where, key, "expected " + schema::type_name(spec.type) + " " + range + ", got " + format_number(number));
    return false;
  }

  json list(const Node& node, const KeySpec& spec, const std::string& key, const Origin& key_origin) {
    const Origin& where = node.origin.file.empty() ? key_origin : node.origin;
    if (node.kind != Node::Kind::kList) {
      report(where, key, "expected a list, got " + node.describe() + " (write [a, b] or one '- item' per line)");
      return nullptr;
    }
    const KeySpec* element = schema::find(spec.path + "[]");
    json result = json::array();
    for (std::size_t i = 0; i < node.items.size(); ++i) {
      const std::string item_key = key + "[" + std::to_string(i) + "]";
      result.push_back(value(node.items[i], *element, item_key, where));
    }
    if (static_cast<double>(node.items.size()) < spec.minimum) {
      report(where, key, "needs at least " + format_number(spec.minimum) + " item(s), got " +
                             std::to_string(node.items.size()));
    }
    return result;
  }

  json string_value(const Node& node, const KeySpec& spec, const std::string& key) {
    auto expanded = expand(node, key);
    if (!expanded) return nullptr;
    std::string text = expanded->text;
    if (!spec.allowed.empty() && std::find(spec.allowed.begin(), spec.allowed.end(), text) == spec.allowed.end()) {
      report(node.origin, key, "'" + text + "' is not one of: " + core::join(spec.allowed, ", ") +
                                   core::did_you_mean(text, spec.allowed));
      return nullptr;
    }
    if (spec.path_kind == schema::PathKind::kNone || text.empty()) return text;
    if (spec.path_kind == schema::PathKind::kPathOrUrl && text.find("://") != std::string::npos) return text;
    fs::path path(text);
    if (options_.resolve_paths && path.is_relative()) {
      std::error_code error;
      const fs::path base = expanded->starts_with_environment ? fs::current_path(error) : node.origin.base_dir;
      path = fs::absolute(base / path, error);
    }
    path = path.lexically_normal();
    if (options_.check_exists && spec.must_exist) {
      std::error_code error;
      if (!fs::exists(path, error)) {
        report(node.origin, key, "not found: " + path.string() +
                                     (node.text != text ? " (from '" + node.text + "')" : ""));
      }
    }
    std::string result = path.string();
    if (result.size() > 1 && result.back() == '/') result.pop_back();
    return result;
  }

  // ${VAR} and ${VAR:-default}; "$${" writes a literal "${".
  std::optional<Expanded> expand(const Node& node, const std::string& key) {
    if (!options_.expand_env) return Expanded{node.text, false};
    const std::string& text = node.text;
    Expanded out;
    std::size_t i = 0;
    while (i < text.size()) {
      if (text.compare(i, 3, "$${") == 0) {
        out.text += "${";
        i += 3;
        continue;
      }
      if (text.compare(i, 2, "${") != 0) {
        out.text += text[i++];
        continue;
      }
      const auto close = text.find('}', i);
      if (close == std::string::npos) {
        report(node.origin, key, "unterminated '${' in '" + text + "' (write ${NAME} or ${NAME:-default})");
        return std::nullopt;
      }
      const std::string inner = text.substr(i + 2, close - i - 2);
      const auto separator = inner.find(":-");
      const std::string name = inner.substr(0, separator);
      if (!valid_variable_name(name)) {
        report(node.origin, key, "'${" + inner + "}' is not a variable reference (write ${NAME} or ${NAME:-default})");
        return std::nullopt;
      }
      const char* set = std::getenv(name.c_str());
      if (set != nullptr && *set != '\0') {
        if (i == 0) out.starts_with_environment = true;
        out.text += set;
      } else if (separator != std::string::npos) {
        out.text += inner.substr(separator + 2);
      } else {
        report(node.origin, key, "environment variable " + name + " is not set (set it, or give a default: ${" +
                                     name + ":-value})");
        return std::nullopt;
      }
      i = close + 1;
    }
    return out;
  }

  json free_form(const Node& node, const std::string& key) {
    switch (node.kind) {
      case Node::Kind::kNull:
        return nullptr;
      case Node::Kind::kMap: {
        json object = json::object();
        for (const auto& entry : node.entries) object[entry.key] = free_form(entry.value, key + "." + entry.key);
        return object;
      }
      case Node::Kind::kList: {
        json array = json::array();
        for (std::size_t i = 0; i < node.items.size(); ++i) {
          array.push_back(free_form(node.items[i], key + "[" + std::to_string(i) + "]"));
        }
        return array;
      }
      case Node::Kind::kScalar:
        break;
    }
    if (!node.quoted) {
      const std::string& text = node.text;
      if (text == "~" || text == "null" || text == "Null" || text == "NULL") return nullptr;
      if (text == "true" || text == "True" || text == "TRUE") return true;
      if (text == "false" || text == "False" || text == "FALSE") return false;
      if (const auto integer = parse_integer(text)) return *integer;
      if (const auto large = parse_unsigned(text)) return *large;
      if (const auto number = parse_number(text)) return *number;
    }
    const auto expanded = expand(node, key);
    return expanded ? json(expanded->text) : json(nullptr);
  }

  Problems& problems_;
  Options options_;
};

// The origin of the value at `path` in the merged document, for checks that run on the
// resolved JSON; falls back to the closest enclosing value.
Origin origin_at(const Node& root, const std::vector<std::variant<std::string, std::size_t>>& path) {
  const Node* current = &root;
  Origin origin = root.origin;
  for (const auto& step : path) {
    const Node* next = nullptr;
    if (const auto* key = std::get_if<std::string>(&step)) {
      if (current->kind == Node::Kind::kMap) {
        for (const auto& entry : current->entries) {
          if (entry.key == *key) {
            next = &entry.value;
            origin = entry.key_origin;
          }
        }
      }
    } else {
      const std::size_t index = std::get<std::size_t>(step);
      if (current->kind == Node::Kind::kList && index < current->items.size()) next = &current->items[index];
    }
    if (next == nullptr) break;
    current = next;
    if (!current->origin.file.empty() && current->kind != Node::Kind::kNull) origin = current->origin;
  }
  return origin;
}

std::string describe_line(const Origin& origin) {
  return origin.line > 0 ? origin.file + ":" + std::to_string(origin.line) : origin.file;
}

// A string member, or "" when it is absent or not a string (a wrong type is already
// reported; json::value would throw on it).
std::string text_or_empty(const json& object, const char* key) {
  if (!object.is_object()) return "";
  const auto found = object.find(key);
  return found != object.end() && found->is_string() ? found->get<std::string>() : std::string();
}

// Rules that span keys: computed defaults (names), uniqueness, combinations.
void check_relations(json& resolved, const Node& root, const std::string& source_stem, Problems& problems) {
  auto report = [&](const Origin& origin, const std::string& key, const std::string& message) {
    problems.push_back({{origin.file, origin.line, key}, message});
  };
  if (text_or_empty(resolved, "name").empty()) resolved["name"] = source_stem;

  if (resolved.contains("systems") && resolved["systems"].is_array()) {
    std::map<std::string, std::size_t> seen;
    auto& systems = resolved["systems"];
    for (std::size_t i = 0; i < systems.size(); ++i) {
      auto& system = systems[i];
      if (!system.is_object() || !system["type"].is_string()) continue;
      if (text_or_empty(system, "name").empty()) system["name"] = system["type"];
      const std::string name = system["name"];
      const auto [it, inserted] = seen.emplace(name, i);
      if (!inserted) {
        const Origin first = origin_at(root, {"systems", it->second});
        report(origin_at(root, {"systems", i}), "systems[" + std::to_string(i) + "].name",
               "duplicate system name '" + name + "' (also systems[" + std::to_string(it->second) + "], " +
                   describe_line(first) + "); give each a distinct name:");
      }
    }
  }

  auto& director = resolved["director"];
  if (director.is_object() && director["backends"].is_array()) {
    std::map<std::string, std::size_t> seen;
    auto& backends = director["backends"];
    for (std::size_t i = 0; i < backends.size(); ++i) {
      auto& backend = backends[i];
      if (!backend.is_object() || !backend["kind"].is_string()) continue;
      const std::string key = "director.backends[" + std::to_string(i) + "]";
      const Origin where = origin_at(root, {"director", "backends", i});
      if (text_or_empty(backend, "name").empty()) backend["name"] = backend["kind"];
      const std::string name = backend["name"];
      const auto [it, inserted] = seen.emplace(name, i);
      if (!inserted) {
        report(where, key + ".name", "duplicate director backend name '" + name + "' (also director.backends[" +
                                         std::to_string(it->second) + "]); give each a distinct name:");
      }
      if (backend["kind"] == "openai") {
        for (const char* required : {"base_url", "model"}) {
          if (text_or_empty(backend, required).empty()) {
            report(where, key + "." + required, std::string("an openai backend needs ") + required);
          }
        }
      }
      const std::string key_env = text_or_empty(backend, "api_key_env");
      if (!key_env.empty() && !valid_variable_name(key_env)) {
        report(origin_at(root, {"director", "backends", i, "api_key_env"}), key + ".api_key_env",
               "expected the NAME of an environment variable (e.g. OPENAI_API_KEY), not a key");
      }
    }
  }

  // A system's director defaults to the first backend and must name one.
  if (resolved["systems"].is_array() && director.is_object() && director["backends"].is_array() &&
      !director["backends"].empty()) {
    std::vector<std::string> backend_names;
    for (const auto& backend : director["backends"]) {
      if (backend.is_object() && backend["name"].is_string()) backend_names.push_back(backend["name"]);
    }
    auto& systems = resolved["systems"];
    for (std::size_t i = 0; i < systems.size() && !backend_names.empty(); ++i) {
      auto& system = systems[i];
      if (!system.is_object()) continue;
      if (!system["director"].is_string() || system["director"].get<std::string>().empty()) {
        system["director"] = backend_names.front();
        continue;
      }
      const std::string wanted = system["director"];
      if (std::find(backend_names.begin(), backend_names.end(), wanted) == backend_names.end()) {
        report(origin_at(root, {"systems", i, "director"}), "systems[" + std::to_string(i) + "].director",
               "no director backend named '" + wanted + "'; expected one of: " + core::join(backend_names, ", "));
      }
    }
  }

  auto& sampler = resolved["sampler"];
  if (sampler.is_object()) {
    for (const char* side : {"width", "height"}) {
      if (sampler[side].is_number_integer() && sampler[side].get<std::int64_t>() % 8 != 0) {
        report(origin_at(root, {"sampler", side}), std::string("sampler.") + side,
               "expected a multiple of 8 (the VAE downsamples by 8), got " + sampler[side].dump());
      }
    }
    if (sampler["seeds"].is_array()) {
      std::set<std::string> seen;
      for (std::size_t i = 0; i < sampler["seeds"].size(); ++i) {
        if (sampler["seeds"][i].is_null()) continue;  // invalid, already reported
        if (!seen.insert(sampler["seeds"][i].dump()).second) {
          report(origin_at(root, {"sampler", "seeds", i}), "sampler.seeds[" + std::to_string(i) + "]",
                 "duplicate seed " + sampler["seeds"][i].dump());
        }
      }
    }
  }

  if (resolved["metrics"].is_array()) {
    std::set<std::string> seen;
    for (std::size_t i = 0; i < resolved["metrics"].size(); ++i) {
      if (resolved["metrics"][i].is_null()) continue;  // invalid, already reported
      if (!seen.insert(resolved["metrics"][i].dump()).second) {
        report(origin_at(root, {"metrics", i}), "metrics[" + std::to_string(i) + "]",
               "duplicate metric " + resolved["metrics"][i].dump());
      }
    }
  }

  auto& model = resolved["model"];
  if (model.is_object() && model["profile"] == "tiny" && !text_or_empty(model, "weights").empty()) {
    report(origin_at(root, {"model", "weights"}), "model.weights",
           "the tiny profile uses seeded random weights; leave weights empty or choose profile sd15");
  }

  auto& dataset = resolved["dataset"];
  if (dataset.is_object() && dataset["format"] != "generated" && dataset["root"] == "") {
    report(origin_at(root, {"dataset"}), "dataset.root",
           "missing dataset root (a DS-500 release folder, a sample folder or a JSONL file)");
  }
}

std::vector<core::InputError> to_errors(const Problems& problems) {
  std::vector<core::InputError> errors;
  errors.reserve(problems.size());
  for (const auto& problem : problems) errors.emplace_back(problem.where, problem.message);
  return errors;
}

template <typename T>
T get_or(const json& object, const char* key, T fallback) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return fallback;
  return it->get<T>();
}

RunConfig typed(const json& resolved) {
  RunConfig config;
  config.name = get_or<std::string>(resolved, "name", "");
  config.description = get_or<std::string>(resolved, "description", "");

  const json& dataset = resolved.at("dataset");
  config.dataset.root = get_or<std::string>(dataset, "root", "");
  config.dataset.format = get_or<std::string>(dataset, "format", "auto");
  config.dataset.stories = get_or<std::vector<std::string>>(dataset, "stories", {});
  config.dataset.categories = get_or<std::vector<std::string>>(dataset, "categories", {});
  config.dataset.limit = get_or<int>(dataset, "limit", 0);
  config.dataset.max_scenes = get_or<int>(dataset, "max_scenes", 0);
  config.dataset.generator = get_or<std::string>(dataset, "generator", "");
  config.dataset.generator_params = get_or<json>(dataset, "generator_params", json::object());

  for (const json& system : resolved.at("systems")) {
    SystemConfig entry;
    entry.type = system.at("type").get<std::string>();
    entry.name = get_or<std::string>(system, "name", entry.type);
    entry.params = get_or<json>(system, "params", json::object());
    entry.director = get_or<std::string>(system, "director", "");
    config.systems.push_back(std::move(entry));
  }

  const json& director = resolved.at("director");
  for (const json& backend : director.at("backends")) {
    DirectorBackendConfig entry;
    entry.kind = get_or<std::string>(backend, "kind", entry.kind);
    entry.name = get_or<std::string>(backend, "name", entry.kind);
    entry.base_url = get_or<std::string>(backend, "base_url", "");
    entry.model = get_or<std::string>(backend, "model", "");
    entry.temperature = get_or<double>(backend, "temperature", entry.temperature);
    entry.seed = get_or<std::int64_t>(backend, "seed", entry.seed);
    entry.max_tokens = get_or<int>(backend, "max_tokens", entry.max_tokens);
    entry.timeout_s = get_or<double>(backend, "timeout_s", entry.timeout_s);
    entry.api_key_env = get_or<std::string>(backend, "api_key_env", "");
    entry.concurrency = get_or<int>(backend, "concurrency", entry.concurrency);
    entry.max_repairs = get_or<int>(backend, "max_repairs", entry.max_repairs);
    entry.cache = get_or<bool>(backend, "cache", entry.cache);
    config.director.backends.push_back(std::move(entry));
  }
  config.director.templates_dir = get_or<std::string>(director, "templates_dir", "");

  const json& model = resolved.at("model");
  config.model.profile = get_or<std::string>(model, "profile", config.model.profile);
  config.model.weights = get_or<std::string>(model, "weights", "");
  config.model.threads = get_or<int>(model, "threads", config.model.threads);

  const json& sampler = resolved.at("sampler");
  config.sampler.steps = get_or<int>(sampler, "steps", config.sampler.steps);
  config.sampler.guidance = get_or<double>(sampler, "guidance", config.sampler.guidance);
  config.sampler.width = get_or<int>(sampler, "width", config.sampler.width);
  config.sampler.height = get_or<int>(sampler, "height", config.sampler.height);
  config.sampler.seeds = get_or<std::vector<std::uint64_t>>(sampler, "seeds", config.sampler.seeds);

  config.metrics = get_or<std::vector<std::string>>(resolved, "metrics", {});

  const json evaluation = get_or<json>(resolved, "evaluation", json::object());
  config.evaluation.model = get_or<std::string>(evaluation, "model", config.evaluation.model);
  config.evaluation.weights = get_or<std::string>(evaluation, "weights", "");
  config.evaluation.batch_size = get_or<int>(evaluation, "batch_size", config.evaluation.batch_size);
  config.evaluation.bootstrap_samples =
      get_or<int>(evaluation, "bootstrap_samples", config.evaluation.bootstrap_samples);
  config.evaluation.seed = get_or<std::uint64_t>(evaluation, "seed", 0);
  config.evaluation.clip_model = get_or<std::string>(evaluation, "clip_model", config.evaluation.clip_model);
  config.evaluation.clip_weights = get_or<std::string>(evaluation, "clip_weights", "");
  config.evaluation.clip_text = get_or<std::string>(evaluation, "clip_text", config.evaluation.clip_text);
  config.evaluation.aesthetic_weights = get_or<std::string>(evaluation, "aesthetic_weights", "");
  const json detector = get_or<json>(evaluation, "detector", json::object());
  config.evaluation.detector_command = get_or<std::string>(detector, "command", "");
  config.evaluation.detector_threshold = get_or<double>(detector, "threshold", config.evaluation.detector_threshold);
  config.evaluation.detector_timeout_s = get_or<double>(detector, "timeout_s", config.evaluation.detector_timeout_s);

  const json compare = get_or<json>(resolved, "compare", json::object());
  for (const json& row : get_or<json>(compare, "thresholds", json::array())) {
    MetricThreshold threshold;
    threshold.metric = row.at("metric").get<std::string>();
    const auto direction = get_or<std::string>(row, "direction", "auto");
    const auto* known = metrics::find_metric(threshold.metric);
    threshold.higher_is_better =
        direction == "higher_is_better" || (direction == "auto" && known && known->higher_is_better);
    threshold.abs_tol = get_or<double>(row, "abs_tol", 0.0);
    threshold.rel_tol = get_or<double>(row, "rel_tol", 0.0);
    config.compare.thresholds.push_back(std::move(threshold));
  }
  config.compare.timing_rel_tol = get_or<double>(compare, "timing_rel_tol", config.compare.timing_rel_tol);
  config.compare.bootstrap_samples = get_or<int>(compare, "bootstrap_samples", config.compare.bootstrap_samples);
  config.compare.seed = get_or<std::uint64_t>(compare, "seed", 0);

  const json report = get_or<json>(resolved, "report", json::object());
  config.report.stories = get_or<std::vector<std::string>>(report, "stories", {});
  config.report.max_strips = get_or<int>(report, "max_strips", config.report.max_strips);
  config.store.url = get_or<std::string>(resolved.at("store"), "url", "");
  config.output_dir = get_or<std::string>(resolved, "output_dir", "");
  return config;
}

struct Resolution {
  json resolved;
  Problems problems;
};

Resolution resolve(const fs::path& path, const std::vector<std::string>& overrides) {
  Resolution result;
  Node document = config_detail::load_document(path, result.problems);
  const bool loaded = result.problems.empty();
  for (const auto& override_text : overrides) config_detail::apply_override(document, override_text, result.problems);
  // A file that could not be read or parsed leaves a partial document: checking it would
  // bury the real problem under "missing key" noise.
  if (!loaded) return result;
  Validator validator(result.problems, Options{});
  result.resolved = validator.document(document);
  check_relations(result.resolved, document, path.stem().string(), result.problems);
  try {
    (void)result.resolved.dump();
  } catch (const json::type_error&) {
    result.problems.push_back({{document.origin.file, 0, ""}, "the config holds text that is not valid UTF-8"});
  }
  return result;
}

core::InputError first_of(const Problems& problems, const std::string& hint) {
  std::string message = problems.front().message;
  if (problems.size() > 1) {
    message += " (and " + std::to_string(problems.size() - 1) + " more problem(s)" + hint + ")";
  }
  return core::InputError(problems.front().where, message);
}

}  // namespace

RunConfig load_config(const fs::path& path, const std::vector<std::string>& overrides) {
  Resolution resolution = resolve(path, overrides);
  if (!resolution.problems.empty()) {
    throw first_of(resolution.problems, ": `dsbench validate --config " + path.string() + "` lists them all");
  }
  RunConfig config = typed(resolution.resolved);
  config.resolved = std::move(resolution.resolved);
  config.hash = core::sha256_hex(config.resolved.dump());
  config.source = path.string();
  return config;
}

RunConfig config_from_resolved(const json& resolved) {
  if (!resolved.is_object()) {
    throw core::InputError(core::Location{"stored config", 0, ""}, "expected a JSON object, got " +
                                                                       std::string(resolved.type_name()));
  }
  Problems problems;
  std::error_code error;
  const Origin origin{"stored config", 0, fs::current_path(error)};
  const Node document = config_detail::node_from_json(resolved, origin);
  Validator validator(problems, Options{.expand_env = false, .resolve_paths = false, .check_exists = false});
  json checked = validator.document(document);
  check_relations(checked, document, resolved.value("name", std::string("stored")), problems);
  if (!problems.empty()) throw first_of(problems, "");
  RunConfig config = typed(checked);
  config.resolved = resolved;
  config.hash = core::sha256_hex(resolved.dump());
  config.source = "stored config";
  return config;
}

std::vector<core::InputError> check_config(const fs::path& path, const std::vector<std::string>& overrides) {
  return to_errors(resolve(path, overrides).problems);
}

std::string describe_config_keys() {
  std::string text;
  for (const KeySpec& spec : schema::table()) {
    text += spec.path + "  (" + schema::type_name(spec.type);
    if (spec.required) text += ", required";
    if (!spec.fallback.is_null() && spec.type != ValueType::kSection) text += ", default " + spec.fallback.dump();
    if (!spec.allowed.empty()) text += ", one of: " + core::join(spec.allowed, " | ");
    if (spec.type == ValueType::kList && std::isfinite(spec.minimum)) {
      text += ", at least " + format_number(spec.minimum) + " item(s)";
    } else if (std::isfinite(spec.minimum) || std::isfinite(spec.maximum)) {
      text += std::isfinite(spec.minimum) ? ", min " + format_number(spec.minimum) : "";
      text += std::isfinite(spec.maximum) ? ", max " + format_number(spec.maximum) : "";
    }
    if (spec.path_kind != schema::PathKind::kNone) text += ", path relative to its file";
    text += ")";
    if (!spec.help.empty()) text += ": " + spec.help;
    text += "\n";
  }
  return text;
}

}  // namespace dsbench::harness
