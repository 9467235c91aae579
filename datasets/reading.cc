#include "datasets/reading.h"

#include <algorithm>
#include <fstream>
#include <iterator>

#include "core/text.h"

namespace dsbench::datasets::detail {

std::optional<std::size_t> first_invalid_utf8(std::string_view bytes) {
  const auto* data = reinterpret_cast<const unsigned char*>(bytes.data());
  const std::size_t size = bytes.size();
  std::size_t i = 0;
  while (i < size) {
    const unsigned char lead = data[i];
    if (lead < 0x80) {
      ++i;
      continue;
    }
    std::size_t length = 0;
    unsigned char low = 0x80;   // allowed range of the second byte (RFC 3629 table)
    unsigned char high = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF) {
      length = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      length = 3;
      if (lead == 0xE0) low = 0xA0;    // overlong
      if (lead == 0xED) high = 0x9F;   // surrogates
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      length = 4;
      if (lead == 0xF0) low = 0x90;    // overlong
      if (lead == 0xF4) high = 0x8F;   // above U+10FFFF
    } else {
      return i;
    }
    if (i + length > size) return i;
    if (data[i + 1] < low || data[i + 1] > high) return i;
    for (std::size_t k = 2; k < length; ++k) {
      if (data[i + k] < 0x80 || data[i + k] > 0xBF) return i;
    }
    i += length;
  }
  return std::nullopt;
}

int line_of_offset(std::string_view text, std::size_t offset) {
  offset = std::min(offset, text.size());
  return 1 + static_cast<int>(std::count(text.begin(), text.begin() + static_cast<long>(offset), '\n'));
}

namespace {

// A structural walk over text nlohmann has already accepted, so it only needs to find
// where each value starts; it never has to diagnose syntax.
class PositionScanner {
 public:
  PositionScanner(std::string_view text, std::unordered_map<std::string, int>& lines, int first_line)
      : text_(text), lines_(lines), line_(first_line) {}

  void run() {
    // nlohmann accepts a leading UTF-8 byte-order mark; step over it the same way.
    if (text_.starts_with("\xEF\xBB\xBF")) pos_ = 3;
    value("");
  }

 private:
  void advance() {
    if (pos_ < text_.size() && text_[pos_] == '\n') ++line_;
    ++pos_;
  }
  void skip_space() {
    while (pos_ < text_.size() &&
           (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' || text_[pos_] == '\r')) {
      advance();
    }
  }
  // Returns the raw key text; keys with escapes are rare and kept verbatim except for
  // the common \" and \\ forms.
  std::string string_token() {
    std::string out;
    advance();  // opening quote
    while (pos_ < text_.size() && text_[pos_] != '"') {
      if (text_[pos_] == '\\' && pos_ + 1 < text_.size()) {
        advance();
        const char escaped = text_[pos_];
        out += (escaped == '"' || escaped == '\\' || escaped == '/') ? escaped : '?';
        advance();
        continue;
      }
      out += text_[pos_];
      advance();
    }
    advance();  // closing quote
    return out;
  }
  void value(const std::string& pointer) {
    skip_space();
    if (pos_ >= text_.size()) return;
    lines_.emplace(pointer, line_);
    const char c = text_[pos_];
    if (c == '{') {
      advance();
      while (true) {
        skip_space();
        if (pos_ >= text_.size()) return;
        if (text_[pos_] == '}') { advance(); return; }
        if (text_[pos_] == ',') { advance(); continue; }
        const std::string key = string_token();
        skip_space();
        if (pos_ < text_.size() && text_[pos_] == ':') advance();
        value(pointer + "/" + ObjectReader::escape(key));
      }
    } else if (c == '[') {
      advance();
      std::size_t index = 0;
      while (true) {
        skip_space();
        if (pos_ >= text_.size()) return;
        if (text_[pos_] == ']') { advance(); return; }
        if (text_[pos_] == ',') { advance(); continue; }
        value(pointer + "/" + std::to_string(index++));
      }
    } else if (c == '"') {
      string_token();
    } else {
      while (pos_ < text_.size() && text_[pos_] != ',' && text_[pos_] != ']' && text_[pos_] != '}' &&
             text_[pos_] != ' ' && text_[pos_] != '\n' && text_[pos_] != '\r' && text_[pos_] != '\t') {
        advance();
      }
    }
  }

  std::string_view text_;
  std::unordered_map<std::string, int>& lines_;
  std::size_t pos_ = 0;
  int line_;
};

}  // namespace

JsonLines::JsonLines(std::string_view text, int first_line) : first_line_(first_line) {
  PositionScanner(text, lines_, first_line).run();
}

int JsonLines::line(const std::string& pointer) const {
  std::string current = pointer;
  while (true) {
    const auto found = lines_.find(current);
    if (found != lines_.end()) return found->second;
    if (current.empty()) return first_line_;
    current.erase(current.rfind('/'));
  }
}

std::optional<JsonDocument> parse_json(const std::string& file, std::string_view text,
                                       int first_line, Problems& problems,
                                       std::size_t first_offset) {
  if (const auto bad = first_invalid_utf8(text)) {
    problems.add(core::Location{file, first_line - 1 + line_of_offset(text, *bad), ""},
                 "invalid UTF-8 at byte offset " + std::to_string(first_offset + *bad) +
                     " (expected UTF-8 text)");
    return std::nullopt;
  }
  try {
    JsonDocument document{file, nlohmann::json::parse(text.begin(), text.end()), {}};
    document.lines = JsonLines(text, first_line);
    return document;
  } catch (const nlohmann::json::parse_error& error) {
    // error.byte is 1-based and points at the last byte read.
    const std::size_t offset = error.byte > 0 ? error.byte - 1 : 0;
    std::string what = error.what();
    const auto detail = what.find("syntax error");
    if (detail != std::string::npos) what = what.substr(detail);
    problems.add(core::Location{file, first_line - 1 + line_of_offset(text, offset), ""},
                 "invalid JSON: " + what);
    return std::nullopt;
  } catch (const nlohmann::json::exception& error) {
    // Syntactically fine but unrepresentable, e.g. a number past the range of a double.
    problems.add(core::Location{file, first_line, ""}, std::string("invalid JSON: ") + error.what());
    return std::nullopt;
  }
}

std::optional<std::string> read_bytes(const std::filesystem::path& path, Problems& problems) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    problems.add(core::Location{path.string(), 0, ""}, "cannot read the file");
    return std::nullopt;
  }
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string json_type_name(const nlohmann::json& value) {
  if (value.is_number_integer()) return "integer";
  if (value.is_number_float()) return "number";
  return value.type_name();
}

ObjectReader::ObjectReader(const JsonDocument& document, const nlohmann::json& object,
                           std::string pointer, std::string field, Problems& problems)
    : document_(document), object_(object), pointer_(std::move(pointer)),
      field_(std::move(field)), problems_(problems), is_object_(object.is_object()) {
  if (!is_object_) {
    problems_.add(self(), "expected an object, found " + json_type_name(object_));
  }
}

std::string ObjectReader::escape(const std::string& key) {
  std::string out;
  for (const char c : key) {
    if (c == '~') out += "~0";
    else if (c == '/') out += "~1";
    else out += c;
  }
  return out;
}

core::Location ObjectReader::where(const std::string& key) const {
  return document_.at(child_pointer(key), child_field(key));
}

core::Location ObjectReader::self() const { return document_.at(pointer_, field_); }

bool ObjectReader::has(const std::string& key) const {
  return is_object_ && object_.contains(key);
}

const nlohmann::json* ObjectReader::get(const std::string& key) const {
  if (!has(key)) return nullptr;
  return &object_.at(key);
}

std::optional<std::string> ObjectReader::string(const std::string& key, bool required,
                                                bool non_empty) {
  if (!is_object_) return std::nullopt;
  const auto* value = get(key);
  if (value == nullptr) {
    if (required) problems_.add(where(key), "missing; expected a string");
    return std::nullopt;
  }
  if (!value->is_string()) {
    problems_.add(where(key), "expected a string, found " + json_type_name(*value));
    return std::nullopt;
  }
  std::string text = value->get<std::string>();
  if (non_empty && core::trim(text).empty()) {
    problems_.add(where(key), "is empty; expected a non-empty string");
    return std::nullopt;
  }
  return text;
}

std::optional<bool> ObjectReader::boolean(const std::string& key) {
  const auto* value = get(key);
  if (value == nullptr) return std::nullopt;
  if (!value->is_boolean()) {
    problems_.add(where(key), "expected true or false, found " + json_type_name(*value));
    return std::nullopt;
  }
  return value->get<bool>();
}

const nlohmann::json* ObjectReader::array(const std::string& key, bool required) {
  if (!is_object_) return nullptr;
  const auto* value = get(key);
  if (value == nullptr) {
    if (required) problems_.add(where(key), "missing; expected a list");
    return nullptr;
  }
  if (!value->is_array()) {
    problems_.add(where(key), "expected a list, found " + json_type_name(*value));
    return nullptr;
  }
  return value;
}

const nlohmann::json* ObjectReader::object(const std::string& key, bool required) {
  if (!is_object_) return nullptr;
  const auto* value = get(key);
  if (value == nullptr) {
    if (required) problems_.add(where(key), "missing; expected an object");
    return nullptr;
  }
  if (!value->is_object()) {
    problems_.add(where(key), "expected an object, found " + json_type_name(*value));
    return nullptr;
  }
  return value;
}

void ObjectReader::reject_unknown_keys(const std::vector<std::string>& allowed) {
  if (!is_object_) return;
  for (const auto& item : object_.items()) {
    if (std::find(allowed.begin(), allowed.end(), item.key()) != allowed.end()) continue;
    problems_.add(where(item.key()), "unknown key '" + item.key() + "'" +
                                         core::did_you_mean(item.key(), allowed) +
                                         "; expected one of: " + core::join(allowed, ", "));
  }
}

}  // namespace dsbench::datasets::detail
