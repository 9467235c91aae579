#include "pipeline/director/templates.h"

#include <algorithm>

#include "core/errors.h"
#include "core/files.h"
#include "core/hashing.h"
#include "core/text.h"
#include "pipeline/director/assets.h"

namespace dsbench::director {
namespace {

struct Tag {
  std::size_t begin = 0;  // position of "{{"
  std::size_t end = 0;    // one past "}}"
  char sigil = 0;         // '#', '^', '/' or 0 for a value
  std::string key;
};

// The next tag at or after `from`; `found` false when none.
bool next_tag(std::string_view text, std::size_t from, Tag& tag, const std::string& label) {
  const std::size_t open = text.find("{{", from);
  if (open == std::string_view::npos) return false;
  const std::size_t close = text.find("}}", open + 2);
  if (close == std::string_view::npos) {
    throw core::InputError(label + ": '{{' at byte " + std::to_string(open) + " is never closed by '}}'");
  }
  std::string inside = core::trim(text.substr(open + 2, close - open - 2));
  tag.begin = open;
  tag.end = close + 2;
  tag.sigil = 0;
  if (!inside.empty() && (inside[0] == '#' || inside[0] == '^' || inside[0] == '/')) {
    tag.sigil = inside[0];
    inside = core::trim(inside.substr(1));
  }
  tag.key = inside;
  return true;
}

int line_of(std::string_view text, std::size_t position) {
  return 1 + static_cast<int>(std::count(text.begin(), text.begin() + position, '\n'));
}

// Section tags alone on their line take the whole line (and its newline) with them, so
// templates can be laid out one tag per line without leaving blank lines behind.
std::string strip_standalone_section_lines(std::string_view text) {
  std::string out;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t stop = text.find('\n', start);
    const bool has_newline = stop != std::string_view::npos;
    if (!has_newline) stop = text.size();
    const std::string line = core::trim(text.substr(start, stop - start));
    const bool standalone = line.size() > 4 && line.starts_with("{{") && line.ends_with("}}") &&
                            line.find("{{", 2) == std::string::npos &&
                            (line[2] == '#' || line[2] == '^' || line[2] == '/');
    if (standalone) {
      out += line;
    } else {
      out.append(text.substr(start, stop - start));
      if (has_newline) out += '\n';
    }
    start = stop + 1;
  }
  return out;
}

std::string read_template(const std::string& name, const std::string& part,
                          const std::filesystem::path& directory) {
  const std::string file_name = name + "." + part + ".txt";
  if (directory.empty()) {
    const auto text = embedded_asset("templates/" + file_name);
    if (!text) {
      throw core::InputError(core::Location{.file = {}, .line = 0, .field = "director.template"},
                             "no compiled-in template '" + file_name + "' (expected one of the files in "
                             "pipeline/director/templates/, or set director.templates_dir)");
    }
    return std::string(*text);
  }
  const std::filesystem::path path = directory / file_name;
  if (!std::filesystem::exists(path)) {
    throw core::InputError(core::Location{.file = path.string(), .line = 0, .field = {}},
                           "template file missing (director.templates_dir must hold " + name +
                               ".system.txt, .user.txt and .repair.txt)");
  }
  return core::read_file(path);
}

void check_keys(std::string_view text, const std::string& file) {
  const std::vector<std::string>& known = known_placeholders();
  std::size_t from = 0;
  Tag tag;
  while (next_tag(text, from, tag, file)) {
    if (std::find(known.begin(), known.end(), tag.key) == known.end()) {
      throw core::InputError(core::Location{.file = file, .line = line_of(text, tag.begin), .field = {}},
                             "unknown placeholder '{{" + tag.key + "}}'" + core::did_you_mean(tag.key, known) +
                                 "; known: " + core::join(known, ", "));
    }
    from = tag.end;
  }
}

}  // namespace

const std::vector<std::string>& known_placeholders() {
  static const std::vector<std::string> keys = {"story_id", "title", "story_text", "scenes", "scene_count",
                                                "max_scenes", "schema", "schema_version", "error"};
  return keys;
}

std::vector<std::string> template_keys(std::string_view text) {
  std::vector<std::string> keys;
  std::size_t from = 0;
  Tag tag;
  while (next_tag(text, from, tag, "template")) {
    keys.push_back(tag.key);
    from = tag.end;
  }
  return keys;
}

std::string render_template(std::string_view raw, const std::map<std::string, std::string>& values,
                            const std::string& label) {
  const std::string text = strip_standalone_section_lines(raw);
  const auto value_of = [&](const std::string& key) -> std::string {
    const auto it = values.find(key);
    return it == values.end() ? std::string() : it->second;
  };
  std::string out;
  std::vector<std::pair<std::string, bool>> open_sections;  // key, emitting before it opened
  bool emitting = true;
  std::size_t from = 0;
  Tag tag;
  while (next_tag(text, from, tag, label)) {
    if (emitting) out.append(text, from, tag.begin - from);
    if (tag.sigil == '#' || tag.sigil == '^') {
      open_sections.emplace_back(tag.key, emitting);
      const bool present = !value_of(tag.key).empty();
      emitting = emitting && (tag.sigil == '#' ? present : !present);
    } else if (tag.sigil == '/') {
      if (open_sections.empty() || open_sections.back().first != tag.key) {
        throw core::InputError(label + ": '{{/" + tag.key + "}}' at line " +
                               std::to_string(line_of(text, tag.begin)) + " closes no open section");
      }
      emitting = open_sections.back().second;
      open_sections.pop_back();
    } else if (emitting) {
      out += value_of(tag.key);
    }
    from = tag.end;
  }
  if (!open_sections.empty()) {
    throw core::InputError(label + ": section '{{#" + open_sections.back().first + "}}' is never closed");
  }
  if (emitting) out.append(text, from, std::string::npos);
  return out;
}

PromptTemplates load_templates(const std::string& name, const std::filesystem::path& directory) {
  PromptTemplates templates;
  templates.name = name;
  templates.source = directory.empty() ? "embedded" : directory.string();
  templates.system = read_template(name, "system", directory);
  templates.user = read_template(name, "user", directory);
  templates.repair = read_template(name, "repair", directory);
  for (const auto& [part, text] : {std::pair{"system", &templates.system}, std::pair{"user", &templates.user},
                                   std::pair{"repair", &templates.repair}}) {
    const std::string file = (directory.empty() ? std::filesystem::path("templates") : directory).string() +
                             "/" + name + "." + part + ".txt";
    check_keys(*text, file);
    render_template(*text, {}, file);  // balanced sections
  }
  core::Sha256 hasher;
  for (const std::string* text : {&templates.name, &templates.system, &templates.user, &templates.repair}) {
    hasher.update(*text);
    hasher.update(std::string_view("\0", 1));
  }
  templates.hash = hasher.hex_digest();
  return templates;
}

}  // namespace dsbench::director
