#include "pipeline/director/plan_json.h"

#include <algorithm>
#include <set>

#include "core/errors.h"
#include "core/text.h"
#include "pipeline/director/assets.h"

namespace dsbench::director {
namespace {

using nlohmann::json;

constexpr std::string_view kSchemaAsset = "schema/story_plan.v1.schema.json";

std::string type_name(const json& value) {
  if (value.is_number_integer()) return "integer";
  if (value.is_number()) return "number";
  return value.type_name();  // object, array, string, boolean, null
}

bool has_type(const json& value, const std::string& type) {
  if (type == "object") return value.is_object();
  if (type == "array") return value.is_array();
  if (type == "string") return value.is_string();
  if (type == "integer") return value.is_number_integer() ||
                                (value.is_number_float() && value.get<double>() == static_cast<double>(
                                                                                      value.get<std::int64_t>()));
  if (type == "number") return value.is_number();
  if (type == "boolean") return value.is_boolean();
  if (type == "null") return value.is_null();
  throw core::InputError("JSON schema: unknown type '" + type + "'");
}

// Short rendering of a value for messages: long strings and containers are elided.
std::string preview(const json& value) {
  std::string text = value.dump();
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return text;
}

std::size_t utf8_length(const std::string& text) {
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

const std::set<std::string>& supported_keywords() {
  static const std::set<std::string> keywords = {
      "type", "required", "properties", "additionalProperties", "items", "minItems", "maxItems",
      "minLength", "uniqueItems", "const", "enum",
      // annotations
      "$schema", "$id", "title", "description", "version"};
  return keywords;
}

void validate(const json& value, const json& schema, const std::string& path,
              std::vector<SchemaViolation>& out) {
  if (!schema.is_object()) throw core::InputError("JSON schema at " + path + ": expected an object");
  for (const auto& [keyword, _] : schema.items()) {
    if (!supported_keywords().contains(keyword)) {
      throw core::InputError("JSON schema at " + path + ": keyword '" + keyword +
                             "' is not supported by dsbench's validator (plan_json.h lists the supported ones)");
    }
  }
  const auto add = [&](const std::string& at, const std::string& message) { out.push_back({at, message}); };

  if (schema.contains("type")) {
    const json& type = schema["type"];
    std::vector<std::string> types;
    if (type.is_array()) {
      for (const json& t : type) types.push_back(t.get<std::string>());
    } else {
      types.push_back(type.get<std::string>());
    }
    const bool matches = std::any_of(types.begin(), types.end(), [&](const auto& t) { return has_type(value, t); });
    if (!matches) {
      add(path, "expected " + core::join(types, " or ") + ", found " + type_name(value) + " " + preview(value));
      return;  // the other keywords would only repeat the type problem
    }
  }
  if (schema.contains("const") && value != schema["const"]) {
    add(path, "expected the value " + schema["const"].dump() + ", found " + preview(value));
  }
  if (schema.contains("enum")) {
    const json& allowed = schema["enum"];
    if (std::find(allowed.begin(), allowed.end(), value) == allowed.end()) {
      add(path, "expected one of " + allowed.dump() + ", found " + preview(value));
    }
  }
  if (value.is_string() && schema.contains("minLength")) {
    const auto min_length = schema["minLength"].get<std::size_t>();
    if (utf8_length(value.get<std::string>()) < min_length) {
      add(path, min_length == 1 ? "must not be empty"
                                : "expected at least " + std::to_string(min_length) + " characters");
    }
  }
  if (value.is_object()) {
    if (schema.contains("required")) {
      for (const json& key : schema["required"]) {
        if (!value.contains(key.get<std::string>())) {
          add(path, "missing required field \"" + key.get<std::string>() + "\"");
        }
      }
    }
    const json properties = schema.value("properties", json::object());
    const bool closed = schema.contains("additionalProperties") && schema["additionalProperties"] == false;
    std::vector<std::string> known;
    for (const auto& [key, _] : properties.items()) known.push_back(key);
    for (const auto& [key, member] : value.items()) {
      const std::string member_path = path + "." + key;
      if (properties.contains(key)) {
        validate(member, properties[key], member_path, out);
      } else if (closed) {
        add(member_path, "unexpected field" + core::did_you_mean(key, known) + "; allowed: " + core::join(known, ", "));
      }
    }
  }
  if (value.is_array()) {
    if (schema.contains("minItems") && value.size() < schema["minItems"].get<std::size_t>()) {
      add(path, "expected at least " + schema["minItems"].dump() + " items, found " + std::to_string(value.size()));
    }
    if (schema.contains("maxItems") && value.size() > schema["maxItems"].get<std::size_t>()) {
      add(path, "expected at most " + schema["maxItems"].dump() + " items, found " + std::to_string(value.size()));
    }
    if (schema.value("uniqueItems", false)) {
      for (std::size_t i = 0; i < value.size(); ++i) {
        for (std::size_t j = 0; j < i; ++j) {
          if (value[i] == value[j]) {
            add(path + "[" + std::to_string(i) + "]",
                "duplicate of item " + std::to_string(j) + " " + preview(value[i]) + "; items must be unique");
            break;
          }
        }
      }
    }
    if (schema.contains("items")) {
      for (std::size_t i = 0; i < value.size(); ++i) {
        validate(value[i], schema["items"], path + "[" + std::to_string(i) + "]", out);
      }
    }
  }
}

// Surrounding whitespace and one ```/```json fence are the common harmless wrappers.
std::string strip_fence(std::string_view answer) {
  std::string text = core::trim(answer);
  if (text.starts_with("```")) {
    const std::size_t first_newline = text.find('\n');
    text = first_newline == std::string::npos ? std::string() : text.substr(first_newline + 1);
    const std::size_t closing = text.rfind("```");
    if (closing != std::string::npos) text = text.substr(0, closing);
    text = core::trim(text);
  }
  return text;
}

std::string normalized_name(const std::string& name) { return core::to_lower_ascii(core::trim(name)); }

}  // namespace

std::string SchemaViolation::to_string() const { return path + ": " + message; }

std::string_view story_plan_schema_text() {
  const auto text = embedded_asset(kSchemaAsset);
  if (!text) throw core::RunError("the compiled-in director schema " + std::string(kSchemaAsset) + " is missing");
  return *text;
}

const json& story_plan_schema() {
  static const json schema = json::parse(story_plan_schema_text());
  return schema;
}

int story_plan_schema_version() { return story_plan_schema().at("version").get<int>(); }

std::vector<SchemaViolation> validate_against_schema(const json& value, const json& schema, const std::string& path) {
  std::vector<SchemaViolation> out;
  validate(value, schema, path, out);
  return out;
}

PlanExpectations expectations_for(const datasets::Story& story, std::size_t max_scenes) {
  return PlanExpectations{.scene_count = story.scenes.size(), .max_scenes = max_scenes};
}

std::string PlanParseResult::error_message(std::size_t max_lines) const {
  std::vector<std::string> lines;
  for (std::size_t i = 0; i < problems.size() && i < max_lines; ++i) lines.push_back(problems[i].to_string());
  if (problems.size() > max_lines) {
    lines.push_back("... and " + std::to_string(problems.size() - max_lines) + " more problems");
  }
  return core::join(lines, "\n");
}

PlanParseResult parse_story_plan(std::string_view answer, const std::string& story_id,
                                 const PlanExpectations& expectations) {
  PlanParseResult result;
  const std::string text = strip_fence(answer);
  if (text.empty()) {
    result.problems.push_back({"$", "the answer is empty; expected one JSON object"});
    return result;
  }
  json document;
  try {
    document = json::parse(text);
  } catch (const json::parse_error& error) {
    // error.byte is 1-based: the byte at which parsing stopped.
    std::string message = "not valid JSON at byte " + std::to_string(error.byte) + " of " +
                          std::to_string(text.size());
    if (error.byte > text.size()) {
      message += ": the text ends before the object is complete (truncated answer?)";
    } else {
      const std::size_t from = error.byte > 21 ? error.byte - 21 : 0;
      message += " near \"" + text.substr(from, 40) + "\"";
    }
    message += "; answer with one JSON object and nothing else";
    result.problems.push_back({"$", message});
    return result;
  }

  result.problems = validate_against_schema(document, story_plan_schema());
  if (!result.problems.empty()) return result;

  StoryPlan plan;
  plan.story_id = story_id;
  std::vector<std::string> names;
  std::vector<std::string> lowered_names;
  const json& subjects = document["subjects"];
  for (std::size_t i = 0; i < subjects.size(); ++i) {
    const json& subject = subjects[i];
    const std::string name = core::trim(subject["name"].get<std::string>());
    const std::string lowered = normalized_name(name);
    const auto earlier = std::find(lowered_names.begin(), lowered_names.end(), lowered);
    if (earlier != lowered_names.end()) {
      result.problems.push_back({"$.subjects[" + std::to_string(i) + "].name",
                                 "\"" + name + "\" repeats subjects[" +
                                     std::to_string(earlier - lowered_names.begin()) +
                                     "]; subject names must be unique"});
    }
    names.push_back(name);
    lowered_names.push_back(lowered);
    plan.subjects.push_back(SubjectPlan{.name = name,
                                        .kind = core::trim(subject["kind"].get<std::string>()),
                                        .portrait_prompt = subject["description"].get<std::string>(),
                                        .short_prompt = subject["short_description"].get<std::string>()});
  }

  const json& scenes = document["scenes"];
  if (expectations.scene_count > 0 && scenes.size() != expectations.scene_count) {
    result.problems.push_back({"$.scenes", "expected exactly " + std::to_string(expectations.scene_count) +
                                               " scenes (one per passage, in order), found " +
                                               std::to_string(scenes.size())});
  } else if (expectations.scene_count == 0 && expectations.max_scenes > 0 &&
             scenes.size() > expectations.max_scenes) {
    result.problems.push_back({"$.scenes", "expected at most " + std::to_string(expectations.max_scenes) +
                                               " scenes, found " + std::to_string(scenes.size())});
  }
  for (std::size_t i = 0; i < scenes.size(); ++i) {
    const json& scene = scenes[i];
    ScenePlan scene_plan{.prompt = scene["prompt"].get<std::string>(),
                         .subjects = {},
                         .rewritten_prompt = scene["rewritten_prompt"].get<std::string>()};
    const json& scene_subjects = scene["subjects"];
    for (std::size_t j = 0; j < scene_subjects.size(); ++j) {
      const std::string name = scene_subjects[j].get<std::string>();
      const auto found = std::find(lowered_names.begin(), lowered_names.end(), normalized_name(name));
      if (found == lowered_names.end()) {
        result.problems.push_back({"$.scenes[" + std::to_string(i) + "].subjects[" + std::to_string(j) + "]",
                                   "\"" + name + "\" is not one of the subjects" +
                                       core::did_you_mean(name, names) + "; subjects are: " +
                                       (names.empty() ? std::string("(none)") : core::join(names, ", "))});
        continue;
      }
      const int index = static_cast<int>(found - lowered_names.begin());
      if (std::find(scene_plan.subjects.begin(), scene_plan.subjects.end(), index) != scene_plan.subjects.end()) {
        result.problems.push_back({"$.scenes[" + std::to_string(i) + "].subjects[" + std::to_string(j) + "]",
                                   "\"" + name + "\" is listed twice in this scene"});
        continue;
      }
      scene_plan.subjects.push_back(index);
    }
    plan.scenes.push_back(std::move(scene_plan));
  }
  if (!result.problems.empty()) return result;
  result.ok = true;
  result.plan = std::move(plan);
  return result;
}

json story_plan_to_json(const StoryPlan& plan) {
  json subjects = json::array();
  for (const SubjectPlan& subject : plan.subjects) {
    subjects.push_back({{"name", subject.name},
                        {"kind", subject.kind},
                        {"description", subject.portrait_prompt},
                        {"short_description", subject.short_prompt}});
  }
  json scenes = json::array();
  for (const ScenePlan& scene : plan.scenes) {
    json names = json::array();
    for (const int index : scene.subjects) names.push_back(plan.subjects.at(static_cast<std::size_t>(index)).name);
    scenes.push_back({{"prompt", scene.prompt}, {"subjects", names}, {"rewritten_prompt", scene.rewritten_prompt}});
  }
  return {{"version", story_plan_schema_version()}, {"subjects", subjects}, {"scenes", scenes}};
}

}  // namespace dsbench::director
