// The text clean-up of openai/CLIP's simple_tokenizer, on code points (UTF-32), with the
// Unicode tables of ICU: ftfy.fix_text's default fixes (see fix_text for what is
// omitted), Python's html.unescape, whitespace collapsing with Python's str.isspace,
// str.lower (full case mapping), and the pre-token pattern
//   <|startoftext|>|<|endoftext|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
// (case-insensitive). Internal to the tokenizer; exposed for its tests.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace dsbench::diffusion::clip_text {

// UTF-8 -> code points; each invalid byte sequence becomes U+FFFD (Python's
// decode(errors="replace") replaces each maximal invalid subpart the same way).
std::u32string decode_utf8(std::string_view bytes);
std::string encode_utf8(std::u32string_view text);

bool is_letter(char32_t c);        // \p{L}
bool is_number(char32_t c);        // \p{N}
bool is_python_space(char32_t c);  // str.isspace(): bidi WS/B/S or category Zs

// ftfy.fix_text with its default configuration, except fix_encoding (mojibake detection
// and re-decoding by ftfy's badness heuristics), which is omitted: clean text passes it
// unchanged. Applied per line as ftfy does: HTML entities (ftfy's unescape_html, skipped
// from the first line containing '<' on), C1 controls as Windows-1252, Latin ligatures,
// full/halfwidth forms, curly quotes, line breaks, terminal escapes, control characters,
// then NFC; repeated until stable.
std::u32string fix_text(std::u32string_view text);

// Python's html.unescape: numeric references (with Windows-1252 and invalid-code-point
// rules) and the HTML5 named references, including the longest-prefix rule for names
// without ';'.
std::u32string html_unescape(std::u32string_view text);

std::u32string strip(std::u32string_view text);                // str.strip()
std::u32string collapse_whitespace(std::u32string_view text);  // re.sub(r'\s+', ' ', t).strip()
std::u32string to_lower(std::u32string_view text);             // str.lower()

// basic_clean + whitespace_clean + lower, as the reference's encode() does.
std::u32string clean(std::u32string_view text);

// The pre-tokens of cleaned text, in order (whitespace dropped).
std::vector<std::u32string> split_pretokens(std::u32string_view text);

}  // namespace dsbench::diffusion::clip_text
