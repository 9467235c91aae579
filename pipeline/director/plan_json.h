// The director's answer format: a JSON object checked against
// schema/story_plan.v1.schema.json (compiled in) and then parsed into a StoryPlan. No
// JSON-schema library is packaged for Debian 12's C++, so validate_against_schema
// implements the keywords the schema uses (see its "description"); an unknown keyword in
// a schema is a core::InputError rather than a silently ignored rule.
//
// Every problem names the JSON path of the offending value ("$.scenes[2].subjects[0]"),
// because the repair prompt quotes these messages back to the LLM.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "datasets/dataset.h"
#include "pipeline/director/story_plan.h"

namespace dsbench::director {

struct SchemaViolation {
  std::string path;     // "$", "$.subjects[1].kind", ...
  std::string message;  // what was expected and what was found
  std::string to_string() const;  // "$.subjects[1].kind: ..."
};

// The compiled-in schema (parsed once) and its "version".
const nlohmann::json& story_plan_schema();
int story_plan_schema_version();
// The schema text as sent to the LLM (the file's text, unchanged).
std::string_view story_plan_schema_text();

// Every violation of `schema` by `value`, in document order. Supported keywords: type
// (object, array, string, integer, number, boolean, null, or a list of these), required,
// properties, additionalProperties (boolean), items, minItems, maxItems, minLength,
// uniqueItems, const, enum; annotations ($schema, $id, title, description, version) are
// ignored. Any other keyword throws core::InputError naming the schema path.
std::vector<SchemaViolation> validate_against_schema(const nlohmann::json& value, const nlohmann::json& schema,
                                                     const std::string& path = "$");

// What the story asks of a plan beyond the schema.
struct PlanExpectations {
  std::size_t scene_count = 0;  // > 0: exactly this many scenes (the story has scenes)
  std::size_t max_scenes = 0;   // > 0 and scene_count == 0: at most this many
};
PlanExpectations expectations_for(const datasets::Story& story, std::size_t max_scenes);

struct PlanParseResult {
  bool ok = false;
  StoryPlan plan;                         // filled when ok
  std::vector<SchemaViolation> problems;  // non-empty when !ok
  // The problems, one per line, at most `max_lines` (then "... and N more").
  std::string error_message(std::size_t max_lines = 12) const;
};

// The answer text -> StoryPlan. Tolerates surrounding whitespace and one Markdown code
// fence around the object; anything else that is not a single JSON object is a problem
// ("not valid JSON at byte N ...", with a hint when the text looks truncated). After the
// schema: subject names unique (case-insensitive), scene subjects name listed subjects
// (case-insensitive, with a did-you-mean), scene count as expected.
PlanParseResult parse_story_plan(std::string_view answer, const std::string& story_id,
                                 const PlanExpectations& expectations);

// A StoryPlan as the schema's JSON (names in scenes); parse_story_plan inverts it.
nlohmann::json story_plan_to_json(const StoryPlan& plan);

}  // namespace dsbench::director
