// Versioned prompt templates: `<name>.system.txt`, `<name>.user.txt` and
// `<name>.repair.txt` (templates/ in this folder, compiled in; or a directory given by
// the config's director.templates_dir). Placeholders are {{key}}; {{#key}}…{{/key}}
// keeps its text only when key is non-empty, {{^key}}…{{/key}} only when it is empty.
// A section tag alone on its line takes the line with it.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace dsbench::director {

struct PromptTemplates {
  std::string name;    // "director_v1"
  std::string system;  // the system message
  std::string user;    // the first user message
  std::string repair;  // the follow-up after an invalid answer ({{error}})
  std::string hash;    // SHA-256 (hex) over name and the three texts; stored with each call
  std::string source;  // "embedded" or the directory read
};

// Keys the director fills in; any other placeholder in a template is an InputError.
const std::vector<std::string>& known_placeholders();

// Reads the three files from `directory` (or the compiled-in copies when it is empty).
// A missing file or an unknown placeholder is a core::InputError naming file and line.
PromptTemplates load_templates(const std::string& name, const std::filesystem::path& directory = {});

// Fills in `text`; a placeholder without a value renders empty. `label` names the
// template in errors (unbalanced sections are core::InputErrors).
std::string render_template(std::string_view text, const std::map<std::string, std::string>& values,
                            const std::string& label = "template");

// The keys used by {{key}}, {{#key}}, {{^key}} and {{/key}} tags, in order of appearance.
std::vector<std::string> template_keys(std::string_view text);

}  // namespace dsbench::director
