// The CLIP byte-level BPE tokenizer (openai/CLIP simple_tokenizer), exact: text clean-up
// (ftfy-like fixes, HTML entities unescaped twice, whitespace collapsed), lower-casing,
// the pre-token pattern with Unicode letter/number classes (ICU), byte-to-unicode mapping
// and BPE merges by rank. Spec: shared/spec/clip-tokenizer.md.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace dsbench::diffusion {

class ClipTokenizer {
 public:
  static constexpr int kStartToken = 49406;  // <|startoftext|>
  static constexpr int kEndToken = 49407;    // <|endoftext|>, also the SD padding token
  static constexpr int kContextLength = 77;

  // The shipped vocabulary, loaded once (thread-safe). Found, in order, at the file named
  // by $DSBENCH_CLIP_VOCAB, next to the executable (../share/dsbench/ and ./), and at the
  // source tree's pipeline/diffusion/assets/. RunError naming every place tried if absent.
  static const ClipTokenizer& instance();
  // Where instance() reads the vocabulary from (for messages and `model info`).
  static std::filesystem::path default_vocab_path();

  // Reads the gzip-compressed merges file (bpe_simple_vocab_16e6.txt.gz). InputError
  // naming the file if it is missing, not gzip, or not a merges list.
  explicit ClipTokenizer(const std::filesystem::path& vocab_gz);
  ~ClipTokenizer();
  ClipTokenizer(ClipTokenizer&&) noexcept;
  ClipTokenizer& operator=(ClipTokenizer&&) noexcept;

  // Start token, the text's tokens, end token; no padding, no truncation. Invalid UTF-8
  // bytes are decoded as U+FFFD (as Python's errors="replace").
  std::vector<int> encode(std::string_view text) const;
  // Stable Diffusion's rule: sequences longer than `length` keep their first length-1 ids
  // and end with kEndToken; shorter ones are padded with kEndToken. `length` >= 2.
  std::vector<int> encode_padded(std::string_view text, int length = kContextLength) const;
  // Text of the ids: </w> becomes a space, start/end tokens are dropped as the reference
  // does not (it prints them); here they are skipped so decode(encode(t)) reads as t
  // after clean-up. Unknown ids: InputError.
  std::string decode(const std::vector<int>& ids) const;

  int vocab_size() const;  // 49408

  // The clean-up applied before splitting (exposed for tests): encoding fixes, HTML
  // unescape twice, strip, whitespace runs to one space, lower-case.
  static std::string clean_text(std::string_view text);

 private:
  struct Tables;
  std::unique_ptr<Tables> tables_;
};

}  // namespace dsbench::diffusion
