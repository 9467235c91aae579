#include "pipeline/diffusion/clip_text_cleanup.h"

#include <unicode/locid.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>

#include <algorithm>
#include <string>
#include <unordered_map>

#include "core/errors.h"

namespace dsbench::diffusion::clip_text {

namespace {

constexpr char32_t kReplacement = 0xFFFD;

// ---------------------------------------------------------------- ICU bridges

icu::UnicodeString to_icu(std::u32string_view text) {
  return icu::UnicodeString::fromUTF32(reinterpret_cast<const UChar32*>(text.data()),
                                       static_cast<int32_t>(text.size()));
}

std::u32string from_icu(const icu::UnicodeString& text) {
  std::u32string out(static_cast<std::size_t>(text.countChar32()), U'\0');
  UErrorCode status = U_ZERO_ERROR;
  text.toUTF32(reinterpret_cast<UChar32*>(out.data()), static_cast<int32_t>(out.size()), status);
  if (U_FAILURE(status) && status != U_STRING_NOT_TERMINATED_WARNING) {
    throw core::RunError(std::string("ICU UTF-32 conversion failed: ") + u_errorName(status));
  }
  return out;
}

const icu::Normalizer2& normalizer(bool compatibility) {
  UErrorCode status = U_ZERO_ERROR;
  const auto* instance =
      compatibility ? icu::Normalizer2::getNFKCInstance(status) : icu::Normalizer2::getNFCInstance(status);
  if (U_FAILURE(status) || instance == nullptr) {
    throw core::RunError(std::string("ICU normalizer unavailable: ") + u_errorName(status));
  }
  return *instance;
}

std::u32string normalize(std::u32string_view text, bool compatibility) {
  UErrorCode status = U_ZERO_ERROR;
  const auto result = normalizer(compatibility).normalize(to_icu(text), status);
  if (U_FAILURE(status)) throw core::RunError(std::string("ICU normalisation failed: ") + u_errorName(status));
  return from_icu(result);
}

// ---------------------------------------------------------------- HTML entities

struct Entity {
  const char* name;
  const char* value;
  bool ftfy_caps;
};

constexpr Entity kEntities[] = {
#include "pipeline/diffusion/clip_html_entities.inc"
};

struct EntityTables {
  std::unordered_map<std::u32string, std::u32string> html5;  // html.entities.html5 (names with and without ';')
  std::unordered_map<std::u32string, std::u32string> ftfy;   // "&name;" -> text (names with ';' + caps)
};

const EntityTables& entity_tables() {
  static const EntityTables tables = [] {
    EntityTables built;
    for (const auto& entity : kEntities) {
      const auto name = decode_utf8(entity.name);
      const auto value = decode_utf8(entity.value);
      if (!entity.ftfy_caps) built.html5.emplace(name, value);
      if (!name.empty() && name.back() == U';') built.ftfy.emplace(U"&" + name, value);
    }
    return built;
  }();
  return tables;
}

// Python's html._invalid_charrefs: C1 references read as Windows-1252, NUL and CR.
bool invalid_charref(std::uint64_t number, std::u32string& out) {
  static const std::unordered_map<std::uint64_t, char32_t> kMap = {
      {0x00, 0xFFFD}, {0x0d, 0x0D},   {0x80, 0x20AC}, {0x81, 0x81},   {0x82, 0x201A}, {0x83, 0x0192},
      {0x84, 0x201E}, {0x85, 0x2026}, {0x86, 0x2020}, {0x87, 0x2021}, {0x88, 0x02C6}, {0x89, 0x2030},
      {0x8a, 0x0160}, {0x8b, 0x2039}, {0x8c, 0x0152}, {0x8d, 0x8D},   {0x8e, 0x017D}, {0x8f, 0x8F},
      {0x90, 0x90},   {0x91, 0x2018}, {0x92, 0x2019}, {0x93, 0x201C}, {0x94, 0x201D}, {0x95, 0x2022},
      {0x96, 0x2013}, {0x97, 0x2014}, {0x98, 0x02DC}, {0x99, 0x2122}, {0x9a, 0x0161}, {0x9b, 0x203A},
      {0x9c, 0x0153}, {0x9d, 0x9D},   {0x9e, 0x017E}, {0x9f, 0x0178}};
  const auto found = kMap.find(number);
  if (found == kMap.end()) return false;
  out.push_back(found->second);
  return true;
}

// Python's html._invalid_codepoints: references to these produce nothing.
bool invalid_codepoint(std::uint64_t n) {
  return (n >= 0x1 && n <= 0x8) || n == 0xB || (n >= 0xE && n <= 0x1F) || (n >= 0x7F && n <= 0x9F) ||
         (n >= 0xFDD0 && n <= 0xFDEF) || ((n & 0xFFFE) == 0xFFFE && n <= 0x10FFFF);
}

bool is_digit(char32_t c) { return c >= U'0' && c <= U'9'; }
bool is_hex(char32_t c) { return is_digit(c) || (c >= U'a' && c <= U'f') || (c >= U'A' && c <= U'F'); }
bool is_ascii_alnum(char32_t c) { return is_digit(c) || (c >= U'a' && c <= U'z') || (c >= U'A' && c <= U'Z'); }
int hex_value(char32_t c) { return is_digit(c) ? c - U'0' : (c | 0x20) - U'a' + 10; }

// The text of a numeric reference's digits [begin, end) (Python's _replace_charref).
std::u32string numeric_reference(std::u32string_view digits, bool hex) {
  constexpr std::uint64_t kHuge = 0x7FFFFFFF;  // anything past U+10FFFF behaves alike
  std::uint64_t number = 0;
  for (const char32_t c : digits) number = std::min<std::uint64_t>(number * (hex ? 16 : 10) + hex_value(c), kHuge);
  std::u32string out;
  if (invalid_charref(number, out)) return out;
  if ((number >= 0xD800 && number <= 0xDFFF) || number > 0x10FFFF) return std::u32string(1, kReplacement);
  if (invalid_codepoint(number)) return {};
  return std::u32string(1, static_cast<char32_t>(number));
}

bool ends_named_reference(char32_t c) {
  return c == U'\t' || c == U'\n' || c == U'\f' || c == U' ' || c == U'<' || c == U'&' || c == U'#' || c == U';';
}

// One html.unescape match starting at text[at] == '&': returns the replacement and
// advances `at` past the match, or returns nullopt-like false when nothing matches.
bool unescape_at(std::u32string_view text, std::size_t& at, std::u32string& out) {
  const auto& html5 = entity_tables().html5;
  std::size_t i = at + 1;
  if (i < text.size() && text[i] == U'#') {
    const bool hex = i + 1 < text.size() && (text[i + 1] == U'x' || text[i + 1] == U'X');
    std::size_t start = hex ? i + 2 : i + 1, end = start;
    while (end < text.size() && (hex ? is_hex(text[end]) : is_digit(text[end]))) ++end;
    if (end == start) return false;
    out += numeric_reference(text.substr(start, end - start), hex);
    at = end < text.size() && text[end] == U';' ? end + 1 : end;
    return true;
  }
  std::size_t end = i;
  while (end < text.size() && end - i < 32 && !ends_named_reference(text[end])) ++end;
  if (end == i) return false;
  if (end < text.size() && text[end] == U';') ++end;
  const std::u32string name(text.substr(i, end - i));
  at = end;
  if (const auto found = html5.find(name); found != html5.end()) {
    out += found->second;
    return true;
  }
  // The longest known prefix (legacy names without ';', e.g. "&copy2023").
  for (std::size_t length = name.size() - 1; length > 1; --length) {
    if (const auto found = html5.find(name.substr(0, length)); found != html5.end()) {
      out += found->second + name.substr(length);
      return true;
    }
  }
  out += U'&' + name;
  return true;
}

// ftfy.fixes.unescape_html: only "&#?[0-9A-Za-z]{1,24};" references, named ones from the
// ';'-terminated table (plus all-caps variants), numeric ones if fully consumed.
std::u32string ftfy_unescape_html(std::u32string_view text) {
  const auto& table = entity_tables().ftfy;
  std::u32string out;
  std::size_t i = 0;
  while (i < text.size()) {
    if (text[i] == U'&') {
      std::size_t j = i + 1;
      if (j < text.size() && text[j] == U'#') ++j;
      std::size_t end = j;
      while (end < text.size() && end - j < 24 && is_ascii_alnum(text[end])) ++end;
      if (end > j && end < text.size() && text[end] == U';') {
        const std::u32string match(text.substr(i, end + 1 - i));
        if (const auto found = table.find(match); found != table.end()) {
          out += found->second;
        } else if (match[1] == U'#') {
          const auto decoded = html_unescape(match);
          out += decoded.find(U';') == std::u32string::npos ? decoded : match;
        } else {
          out += match;
        }
        i = end + 1;
        continue;
      }
    }
    out.push_back(text[i++]);
  }
  return out;
}

// ---------------------------------------------------------------- ftfy's other fixes

// Bytes 0x80-0x9F decoded as Windows-1252 (ftfy's "sloppy" codec keeps the five unused
// bytes as the C1 code points themselves).
std::u32string fix_c1_controls(std::u32string text) {
  for (auto& c : text) {
    if (c >= 0x80 && c <= 0x9F) {
      std::u32string mapped;
      if (invalid_charref(c, mapped)) c = mapped[0];
    }
  }
  return text;
}

std::u32string fix_latin_ligatures(std::u32string_view text) {
  static const std::unordered_map<char32_t, std::u32string> kLigatures = {
      {0x0132, U"IJ"}, {0x0133, U"ij"}, {0x0149, U"\u02BCn"}, {0x01F1, U"DZ"}, {0x01F2, U"Dz"},
      {0x01F3, U"dz"}, {0x01C4, U"D\u017D"}, {0x01C5, U"D\u017E"}, {0x01C6, U"d\u017E"}, {0x01C7, U"LJ"},
      {0x01C8, U"Lj"}, {0x01C9, U"lj"}, {0x01CA, U"NJ"}, {0x01CB, U"Nj"}, {0x01CC, U"nj"},
      {0xFB00, U"ff"}, {0xFB01, U"fi"}, {0xFB02, U"fl"}, {0xFB03, U"ffi"}, {0xFB04, U"ffl"},
      {0xFB05, U"\u017Ft"}, {0xFB06, U"st"}};
  std::u32string out;
  for (const char32_t c : text) {
    const auto found = kLigatures.find(c);
    if (found == kLigatures.end()) {
      out.push_back(c);
    } else {
      out += found->second;
    }
  }
  return out;
}

// U+3000 -> space; U+FF01..U+FFEF -> their NFKC form when it differs.
std::u32string fix_character_width(std::u32string_view text) {
  std::u32string out;
  for (const char32_t c : text) {
    if (c == 0x3000) {
      out.push_back(U' ');
    } else if (c >= 0xFF01 && c < 0xFFF0) {
      out += normalize(std::u32string(1, c), true);
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::u32string uncurl_quotes(std::u32string text) {
  for (auto& c : text) {
    if (c == 0x02BC || (c >= 0x2018 && c <= 0x201B)) c = U'\'';
    if (c >= 0x201C && c <= 0x201F) c = U'"';
  }
  return text;
}

std::u32string fix_line_breaks(std::u32string_view text) {
  std::u32string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char32_t c = text[i];
    if (c == U'\r') {
      out.push_back(U'\n');
      if (i + 1 < text.size() && text[i + 1] == U'\n') ++i;
    } else if (c == 0x2028 || c == 0x2029 || c == 0x85) {
      out.push_back(U'\n');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// ANSI terminal escapes "\x1b[" [0-9;]* [a-zA-Z].
std::u32string remove_terminal_escapes(std::u32string_view text) {
  std::u32string out;
  std::size_t i = 0;
  while (i < text.size()) {
    if (text[i] == 0x1B && i + 1 < text.size() && text[i + 1] == U'[') {
      std::size_t j = i + 2;
      while (j < text.size() && (is_digit(text[j]) || text[j] == U';')) ++j;
      if (j < text.size() && ((text[j] >= U'a' && text[j] <= U'z') || (text[j] >= U'A' && text[j] <= U'Z'))) {
        i = j + 1;
        continue;
      }
    }
    out.push_back(text[i++]);
  }
  return out;
}

bool is_removed_control(char32_t c) {
  return c <= 0x08 || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F || (c >= 0x206A && c <= 0x206F) ||
         c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFC);
}

std::u32string remove_control_chars(std::u32string_view text) {
  std::u32string out;
  for (const char32_t c : text) {
    if (!is_removed_control(c)) out.push_back(c);
  }
  return out;
}

std::u32string fix_segment(std::u32string segment, bool unescape) {
  while (true) {
    const auto original = segment;
    if (unescape) segment = ftfy_unescape_html(segment);
    segment = fix_c1_controls(std::move(segment));
    segment = fix_latin_ligatures(segment);
    segment = fix_character_width(segment);
    segment = uncurl_quotes(std::move(segment));
    segment = fix_line_breaks(segment);
    segment = remove_terminal_escapes(segment);
    segment = remove_control_chars(segment);
    segment = normalize(segment, false);
    if (segment == original) return segment;
  }
}

bool is_special_at(std::u32string_view text, std::size_t at, std::u32string_view special) {
  return text.substr(at, special.size()) == special;
}

// The contraction ('s 't 're 've 'm 'll 'd, case-insensitive) at text[at] == '\'', or 0.
std::size_t contraction_length(std::u32string_view text, std::size_t at) {
  const auto folded = [&](std::size_t i) -> char32_t {
    if (i >= text.size()) return 0;
    const char32_t c = text[i];
    if (c == 0x017F) return U's';  // long s case-folds to s
    return c < 0x80 ? static_cast<char32_t>(c | 0x20) : c;
  };
  const char32_t a = folded(at + 1), b = folded(at + 2);
  if (a == U's' || a == U't' || a == U'm' || a == U'd') return 2;
  if ((a == U'r' && b == U'e') || (a == U'v' && b == U'e') || (a == U'l' && b == U'l')) return 3;
  return 0;
}

}  // namespace

std::u32string decode_utf8(std::string_view bytes) {
  std::u32string out;
  out.reserve(bytes.size());
  std::size_t i = 0;
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(bytes[k]); };
  while (i < bytes.size()) {
    const unsigned char lead = byte(i);
    if (lead < 0x80) {
      out.push_back(lead);
      ++i;
      continue;
    }
    int length = 0;
    char32_t value = 0;
    unsigned char low = 0x80, high = 0xBF;  // allowed range of the second byte
    if (lead >= 0xC2 && lead <= 0xDF) {
      length = 2, value = lead & 0x1F;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      length = 3, value = lead & 0x0F;
      if (lead == 0xE0) low = 0xA0;
      if (lead == 0xED) high = 0x9F;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      length = 4, value = lead & 0x07;
      if (lead == 0xF0) low = 0x90;
      if (lead == 0xF4) high = 0x8F;
    }
    if (length == 0) {
      out.push_back(kReplacement);
      ++i;
      continue;
    }
    // Maximal subpart: stop at the first byte that cannot continue the sequence.
    std::size_t j = i + 1;
    bool complete = true;
    for (int k = 1; k < length; ++k, ++j) {
      const unsigned char lo = k == 1 ? low : 0x80, hi = k == 1 ? high : 0xBF;
      if (j >= bytes.size() || byte(j) < lo || byte(j) > hi) {
        complete = false;
        break;
      }
      value = (value << 6) | (byte(j) & 0x3F);
    }
    out.push_back(complete ? value : kReplacement);
    i = j;
  }
  return out;
}

std::string encode_utf8(std::u32string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char32_t c : text) {
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else if (c < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (c >> 6)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else if (c < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (c >> 12)));
      out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (c >> 18)));
      out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
  }
  return out;
}

bool is_letter(char32_t c) { return (U_GET_GC_MASK(static_cast<UChar32>(c)) & U_GC_L_MASK) != 0; }
bool is_number(char32_t c) { return (U_GET_GC_MASK(static_cast<UChar32>(c)) & U_GC_N_MASK) != 0; }

bool is_python_space(char32_t c) {
  const auto code = static_cast<UChar32>(c);
  const auto direction = u_charDirection(code);
  return u_charType(code) == U_SPACE_SEPARATOR || direction == U_WHITE_SPACE_NEUTRAL ||
         direction == U_BLOCK_SEPARATOR || direction == U_SEGMENT_SEPARATOR;
}

std::u32string fix_text(std::u32string_view text) {
  std::u32string out;
  bool unescape = true;
  std::size_t position = 0;
  while (position < text.size()) {
    const auto newline = text.find(U'\n', position);
    const std::size_t end = newline == std::u32string_view::npos ? text.size() : newline + 1;
    const auto segment = text.substr(position, end - position);
    // ftfy's "auto": a '<' suggests real HTML, whose entities are left alone from here on.
    if (segment.find(U'<') != std::u32string_view::npos) unescape = false;
    out += fix_segment(std::u32string(segment), unescape);
    position = end;
  }
  return out;
}

std::u32string html_unescape(std::u32string_view text) {
  if (text.find(U'&') == std::u32string_view::npos) return std::u32string(text);
  std::u32string out;
  std::size_t i = 0;
  while (i < text.size()) {
    if (text[i] == U'&' && unescape_at(text, i, out)) continue;
    out.push_back(text[i++]);
  }
  return out;
}

std::u32string strip(std::u32string_view text) {
  std::size_t begin = 0, end = text.size();
  while (begin < end && is_python_space(text[begin])) ++begin;
  while (end > begin && is_python_space(text[end - 1])) --end;
  return std::u32string(text.substr(begin, end - begin));
}

std::u32string collapse_whitespace(std::u32string_view text) {
  std::u32string out;
  bool in_space = false;
  for (const char32_t c : text) {
    if (is_python_space(c)) {
      if (!in_space) out.push_back(U' ');
      in_space = true;
    } else {
      out.push_back(c);
      in_space = false;
    }
  }
  return strip(out);
}

std::u32string to_lower(std::u32string_view text) {
  auto icu_text = to_icu(text);
  icu_text.toLower(icu::Locale::getRoot());
  return from_icu(icu_text);
}

std::u32string clean(std::u32string_view text) {
  const auto fixed = fix_text(text);
  const auto unescaped = html_unescape(html_unescape(fixed));
  return to_lower(collapse_whitespace(strip(unescaped)));
}

std::vector<std::u32string> split_pretokens(std::u32string_view text) {
  static constexpr std::u32string_view kSpecials[] = {U"<|startoftext|>", U"<|endoftext|>"};
  std::vector<std::u32string> pieces;
  std::size_t i = 0;
  while (i < text.size()) {
    const char32_t c = text[i];
    std::size_t length = 0;
    for (const auto special : kSpecials) {
      if (length == 0 && is_special_at(text, i, special)) length = special.size();
    }
    if (length == 0 && c == U'\'') length = contraction_length(text, i);
    if (length == 0) {
      if (is_letter(c)) {
        while (i + length < text.size() && is_letter(text[i + length])) ++length;
      } else if (is_number(c)) {
        length = 1;
      } else if (u_hasBinaryProperty(static_cast<UChar32>(c), UCHAR_WHITE_SPACE) || is_python_space(c)) {
        ++i;  // no alternative matches whitespace: findall moves on
        continue;
      } else {
        const auto other = [](char32_t x) {
          return !is_letter(x) && !is_number(x) && !is_python_space(x) &&
                 !u_hasBinaryProperty(static_cast<UChar32>(x), UCHAR_WHITE_SPACE);
        };
        while (i + length < text.size() && other(text[i + length])) ++length;
      }
    }
    pieces.emplace_back(text.substr(i, length));
    i += length;
  }
  return pieces;
}

}  // namespace dsbench::diffusion::clip_text
