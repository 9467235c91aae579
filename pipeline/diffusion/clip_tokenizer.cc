#include "pipeline/diffusion/clip_tokenizer.h"

#include <unistd.h>
#include <zlib.h>

#include <array>
#include <cstdlib>
#include <limits>
#include <unordered_map>

#include "core/errors.h"
#include "pipeline/diffusion/clip_text_cleanup.h"

namespace dsbench::diffusion {

namespace fs = std::filesystem;

namespace {

constexpr const char* kVocabFile = "bpe_simple_vocab_16e6.txt.gz";
constexpr const char* kEndOfWord = "</w>";
// The reference keeps merges lines 1 .. 49152-256-2 (line 0 is a "#version" header).
constexpr std::size_t kMerges = 49152 - 256 - 2;

core::InputError vocab_error(const fs::path& path, const std::string& expected) {
  return core::InputError(core::Location{path.string(), 0, ""}, expected);
}

std::string read_gzip(const fs::path& path) {
  if (!fs::is_regular_file(path)) throw vocab_error(path, "an existing CLIP BPE vocabulary file (" + std::string(kVocabFile) + ")");
  gzFile file = gzopen(path.c_str(), "rb");
  if (file == nullptr) throw vocab_error(path, "a readable gzip file");
  std::string text;
  std::array<char, 1 << 16> buffer{};
  int read = 0;
  while ((read = gzread(file, buffer.data(), static_cast<unsigned>(buffer.size()))) > 0) text.append(buffer.data(), read);
  int code = Z_OK;
  const char* message = gzerror(file, &code);
  const bool compressed = gzdirect(file) == 0;
  const std::string detail = message ? message : "";
  gzclose(file);
  if (read < 0 || (code != Z_OK && code != Z_STREAM_END)) throw vocab_error(path, "a valid gzip stream (" + detail + ")");
  if (!compressed) throw vocab_error(path, "a gzip-compressed merges list; the file is not gzip");
  return text;
}

// openai/CLIP's bytes_to_unicode: printable Latin-1 bytes map to themselves, the others
// to U+0100 onwards, so that every byte is a visible character.
std::array<char32_t, 256> byte_to_unicode() {
  std::array<char32_t, 256> table{};
  const auto printable = [](int b) { return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); };
  int next = 0;
  for (int b = 0; b < 256; ++b) table[b] = printable(b) ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + next++);
  return table;
}

// The vocabulary order of the byte symbols: the printable bytes first, then the others.
std::vector<int> byte_vocab_order() {
  std::vector<int> order;
  const auto printable = [](int b) { return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); };
  for (int b = 0; b < 256; ++b) if (printable(b)) order.push_back(b);
  for (int b = 0; b < 256; ++b) if (!printable(b)) order.push_back(b);
  return order;
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start <= text.size()) {
    const auto end = text.find('\n', start);
    lines.push_back(text.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return lines;
}

std::pair<std::string, std::string> merge_pair(const std::string& line, const fs::path& path, std::size_t number) {
  const auto space = line.find(' ');
  if (space == std::string::npos || space == 0 || space + 1 >= line.size() ||
      line.find(' ', space + 1) != std::string::npos) {
    throw core::InputError(core::Location{path.string(), static_cast<int>(number + 1), ""},
                           "a BPE merge: two symbols separated by one space, got '" + line.substr(0, 80) + "'");
  }
  return {line.substr(0, space), line.substr(space + 1)};
}

fs::path executable_dir() {
  std::error_code error;
  const auto self = fs::read_symlink("/proc/self/exe", error);
  return error ? fs::path() : self.parent_path();
}

}  // namespace

struct ClipTokenizer::Tables {
  std::array<std::string, 256> byte_symbol;          // byte -> UTF-8 of its visible character
  std::unordered_map<char32_t, unsigned char> symbol_byte;
  std::unordered_map<std::string, int> encoder;     // symbol -> id
  std::vector<std::string> decoder;                  // id -> symbol
  std::unordered_map<std::string, int> merge_rank;  // "first second" -> rank

  // Byte-pair merges of one pre-token (already byte-mapped), as openai/CLIP's bpe().
  std::vector<std::string> bpe(const std::vector<std::string>& characters) const {
    std::vector<std::string> word = characters;
    word.back() += kEndOfWord;
    while (word.size() > 1) {
      int best = std::numeric_limits<int>::max();
      std::size_t best_at = 0;
      for (std::size_t i = 0; i + 1 < word.size(); ++i) {
        const auto found = merge_rank.find(word[i] + " " + word[i + 1]);
        if (found != merge_rank.end() && found->second < best) best = found->second, best_at = i;
      }
      if (best == std::numeric_limits<int>::max()) break;
      const std::string first = word[best_at], second = word[best_at + 1];
      // Merge every non-overlapping occurrence of the pair, left to right.
      std::vector<std::string> merged;
      for (std::size_t i = 0; i < word.size();) {
        if (i + 1 < word.size() && word[i] == first && word[i + 1] == second) {
          merged.push_back(first + second);
          i += 2;
        } else {
          merged.push_back(word[i++]);
        }
      }
      word = std::move(merged);
    }
    return word;
  }
};

ClipTokenizer::ClipTokenizer(const fs::path& vocab_gz) : tables_(std::make_unique<Tables>()) {
  const auto lines = split_lines(read_gzip(vocab_gz));
  if (lines.size() < kMerges + 1) {
    throw vocab_error(vocab_gz, "at least " + std::to_string(kMerges + 1) + " lines (a version line and the merges), got " +
                                    std::to_string(lines.size()));
  }
  auto& t = *tables_;
  const auto to_unicode = byte_to_unicode();
  for (int b = 0; b < 256; ++b) {
    t.byte_symbol[b] = clip_text::encode_utf8(std::u32string(1, to_unicode[b]));
    t.symbol_byte[to_unicode[b]] = static_cast<unsigned char>(b);
  }
  const auto order = byte_vocab_order();
  for (const int b : order) t.decoder.push_back(t.byte_symbol[b]);
  for (const int b : order) t.decoder.push_back(t.byte_symbol[b] + kEndOfWord);
  for (std::size_t i = 1; i <= kMerges; ++i) {
    const auto [first, second] = merge_pair(lines[i], vocab_gz, i);
    t.merge_rank.emplace(first + " " + second, static_cast<int>(i - 1));
    t.decoder.push_back(first + second);
  }
  t.decoder.push_back("<|startoftext|>");
  t.decoder.push_back("<|endoftext|>");
  for (std::size_t id = 0; id < t.decoder.size(); ++id) t.encoder.emplace(t.decoder[id], static_cast<int>(id));
  if (t.encoder.at("<|startoftext|>") != kStartToken || t.encoder.at("<|endoftext|>") != kEndToken) {
    throw vocab_error(vocab_gz, "the CLIP vocabulary (start/end tokens 49406/49407)");
  }
}

ClipTokenizer::~ClipTokenizer() = default;
ClipTokenizer::ClipTokenizer(ClipTokenizer&&) noexcept = default;
ClipTokenizer& ClipTokenizer::operator=(ClipTokenizer&&) noexcept = default;

fs::path ClipTokenizer::default_vocab_path() {
  std::vector<fs::path> tried;
  if (const char* env = std::getenv("DSBENCH_CLIP_VOCAB"); env != nullptr && *env != '\0') {
    // An explicit choice is final: a wrong path must not silently fall back.
    return fs::path(env);
  }
  const auto exe = executable_dir();
  if (!exe.empty()) {
    tried.push_back(exe / ".." / "share" / "dsbench" / kVocabFile);
    tried.push_back(exe / kVocabFile);
  }
#ifdef DSBENCH_CLIP_ASSETS_DIR
  tried.push_back(fs::path(DSBENCH_CLIP_ASSETS_DIR) / kVocabFile);
#endif
  for (const auto& path : tried) {
    if (fs::is_regular_file(path)) return path;
  }
  std::string places;
  for (const auto& path : tried) places += (places.empty() ? "" : ", ") + path.string();
  throw core::RunError("CLIP vocabulary " + std::string(kVocabFile) + " not found (tried " + places +
                       "); set DSBENCH_CLIP_VOCAB to its path");
}

const ClipTokenizer& ClipTokenizer::instance() {
  static const ClipTokenizer shipped(default_vocab_path());  // thread-safe static initialisation
  return shipped;
}

std::string ClipTokenizer::clean_text(std::string_view text) {
  return clip_text::encode_utf8(clip_text::clean(clip_text::decode_utf8(text)));
}

std::vector<int> ClipTokenizer::encode(std::string_view text) const {
  const auto& t = *tables_;
  std::vector<int> ids{kStartToken};
  for (const auto& piece : clip_text::split_pretokens(clip_text::clean(clip_text::decode_utf8(text)))) {
    if (piece == U"<|startoftext|>" || piece == U"<|endoftext|>") {
      ids.push_back(piece == U"<|startoftext|>" ? kStartToken : kEndToken);
      continue;
    }
    std::vector<std::string> characters;
    for (const char byte : clip_text::encode_utf8(piece)) {
      characters.push_back(t.byte_symbol[static_cast<unsigned char>(byte)]);
    }
    for (const auto& symbol : t.bpe(characters)) ids.push_back(t.encoder.at(symbol));
  }
  ids.push_back(kEndToken);
  return ids;
}

std::vector<int> ClipTokenizer::encode_padded(std::string_view text, int length) const {
  if (length < 2) {
    throw core::InputError(core::Location{"", 0, "length"},
                           "a padded length of at least 2 (start and end tokens), got " + std::to_string(length));
  }
  auto ids = encode(text);
  const auto size = static_cast<std::size_t>(length);
  if (ids.size() > size) {
    ids.resize(size);
    ids.back() = kEndToken;
  }
  ids.resize(size, kEndToken);
  return ids;
}

std::string ClipTokenizer::decode(const std::vector<int>& ids) const {
  const auto& t = *tables_;
  std::string symbols;
  for (const int id : ids) {
    if (id < 0 || id >= static_cast<int>(t.decoder.size())) {
      throw core::InputError(core::Location{"", 0, "ids"}, "token ids in [0, " + std::to_string(t.decoder.size()) +
                                                               "), got " + std::to_string(id));
    }
    if (id == kStartToken || id == kEndToken) continue;
    symbols += t.decoder[id];
  }
  // Symbols -> bytes -> UTF-8 text (invalid bytes as U+FFFD), then </w> -> space.
  std::string bytes;
  for (const char32_t c : clip_text::decode_utf8(symbols)) {
    const auto found = t.symbol_byte.find(c);
    if (found != t.symbol_byte.end()) bytes.push_back(static_cast<char>(found->second));
  }
  auto text = clip_text::encode_utf8(clip_text::decode_utf8(bytes));
  std::string out;
  for (std::size_t i = 0; i < text.size();) {
    if (text.compare(i, 4, kEndOfWord) == 0) {
      out.push_back(' ');
      i += 4;
    } else {
      out.push_back(text[i++]);
    }
  }
  return out;
}

int ClipTokenizer::vocab_size() const { return static_cast<int>(tables_->decoder.size()); }

}  // namespace dsbench::diffusion
