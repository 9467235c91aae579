#include "pipeline/diffusion/clip_tokenizer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/errors.h"
#include "pipeline/diffusion/clip_text_cleanup.h"

namespace dsbench::diffusion {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;

const fs::path kFixtures = fs::path(DSBENCH_SOURCE_DIR) / "tests" / "fixtures" / "text";

struct Golden {
  std::string text;
  std::vector<int> ids;
};

std::vector<Golden> read_golden(const fs::path& path) {
  std::ifstream in(path);
  std::vector<Golden> cases;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const auto row = nlohmann::json::parse(line);
    cases.push_back({row.at("text").get<std::string>(), row.at("ids").get<std::vector<int>>()});
  }
  return cases;
}

const ClipTokenizer& tokenizer() { return ClipTokenizer::instance(); }

TEST(ClipTokenizer, VocabularyHasTheReferenceSize) { EXPECT_EQ(tokenizer().vocab_size(), 49408); }

TEST(ClipTokenizer, EveryGoldenCaseMatches) {
  const auto cases = read_golden(kFixtures / "clip-tokenizer-golden.jsonl");
  ASSERT_EQ(cases.size(), 29u);
  for (const auto& golden : cases) {
    EXPECT_EQ(tokenizer().encode(golden.text), golden.ids) << golden.text;
  }
}

TEST(ClipTokenizer, SharedGoldenFileEqualsTheShippedCopy) {
  const fs::path shared = fs::path(DSBENCH_SHARED_DIR) / "spec" / "clip-tokenizer-golden.jsonl";
  if (!fs::exists(shared)) GTEST_SKIP() << "shared spec not present: " << shared;
  const auto a = read_golden(shared), b = read_golden(kFixtures / "clip-tokenizer-golden.jsonl");
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].text, b[i].text);
    EXPECT_EQ(a[i].ids, b[i].ids);
  }
}

TEST(ClipTokenizer, PaddingFollowsTheStableDiffusionRule) {
  const auto ids = tokenizer().encode("a photo of a cat");
  const auto padded = tokenizer().encode_padded("a photo of a cat");
  ASSERT_EQ(padded.size(), 77u);
  EXPECT_TRUE(std::equal(ids.begin(), ids.end(), padded.begin()));
  for (std::size_t i = ids.size(); i < padded.size(); ++i) EXPECT_EQ(padded[i], ClipTokenizer::kEndToken);

  const auto cases = read_golden(kFixtures / "clip-tokenizer-golden.jsonl");
  const auto longest = std::max_element(cases.begin(), cases.end(),
                                        [](const Golden& a, const Golden& b) { return a.ids.size() < b.ids.size(); });
  ASSERT_GT(longest->ids.size(), 77u);
  const auto cut = tokenizer().encode_padded(longest->text);
  ASSERT_EQ(cut.size(), 77u);
  EXPECT_TRUE(std::equal(cut.begin(), cut.begin() + 76, longest->ids.begin()));
  EXPECT_EQ(cut[76], ClipTokenizer::kEndToken);
  EXPECT_NE(longest->ids[76], ClipTokenizer::kEndToken);  // the rule really replaced a token

  EXPECT_THAT(tokenizer().encode_padded("x", 4), ElementsAre(49406, tokenizer().encode("x")[1], 49407, 49407));
  EXPECT_THAT(tokenizer().encode_padded("a photo of a cat", 2), ElementsAre(49406, 49407));
  EXPECT_THROW(tokenizer().encode_padded("x", 1), core::InputError);
}

TEST(ClipTokenizer, EmptyAndWhitespaceOnlyTextsAreStartAndEnd) {
  EXPECT_THAT(tokenizer().encode(""), ElementsAre(49406, 49407));
  EXPECT_THAT(tokenizer().encode(" \t\n "), ElementsAre(49406, 49407));
}

TEST(ClipTokenizer, SpecialTokensInTextAreRecognised) {
  EXPECT_THAT(tokenizer().encode("<|startoftext|>"), ElementsAre(49406, 49406, 49407));
  EXPECT_THAT(tokenizer().encode("<|endoftext|>"), ElementsAre(49406, 49407, 49407));
}

TEST(ClipTokenizer, DecodeInvertsEncodeAfterCleanUp) {
  EXPECT_EQ(tokenizer().decode(tokenizer().encode("A Photo of a CAT")), "a photo of a cat ");
  EXPECT_EQ(tokenizer().decode(tokenizer().encode("café 小猫 🤖")), "café 小猫 🤖 ");
  EXPECT_THROW(tokenizer().decode({49408}), core::InputError);
  EXPECT_THROW(tokenizer().decode({-1}), core::InputError);
}

TEST(ClipTokenizer, HtmlEntitiesAreUnescapedTwice) {
  // "&amp;amp;" -> "&amp;" -> "&": the same ids as a plain ampersand.
  EXPECT_EQ(tokenizer().encode("rock &amp;amp; roll"), tokenizer().encode("rock & roll"));
  EXPECT_EQ(tokenizer().encode("caf&eacute; &#233;t&#xE9;"), tokenizer().encode("café été"));
  EXPECT_EQ(tokenizer().encode("it&rsquo;s"), tokenizer().encode("it's"));  // ftfy unescapes, then uncurls
}

TEST(ClipTokenizer, TypographicVariantsAreNormalised) {
  EXPECT_EQ(tokenizer().encode("the fisherman\u2019s wife"), tokenizer().encode("the fisherman's wife"));
  EXPECT_EQ(tokenizer().encode("\u201cquoted\u201d"), tokenizer().encode("\"quoted\""));
  EXPECT_EQ(tokenizer().encode("\uFF21\uFF22\uFF23\u3000\uFF11"), tokenizer().encode("abc 1"));  // fullwidth
  EXPECT_EQ(tokenizer().encode("\uFB01sh"), tokenizer().encode("fish"));                          // ligature
  EXPECT_EQ(tokenizer().encode("cafe\u0301"), tokenizer().encode("caf\u00e9"));                     // NFC
  EXPECT_EQ(tokenizer().encode("\x1b[31mred\x1b[0m"), tokenizer().encode("red"));                  // ANSI
}

TEST(ClipTokenizer, InvalidUtf8BecomesReplacementCharacters) {
  EXPECT_EQ(tokenizer().encode("a\xff" "b"), tokenizer().encode("a\uFFFD" "b"));
  EXPECT_EQ(tokenizer().encode("\xe2\x82"), tokenizer().encode("\uFFFD"));  // truncated: one replacement
}

TEST(ClipTokenizer, BadVocabularyFilesAreInputErrors) {
  const auto dir = fs::path(DSBENCH_BINARY_DIR) / "clip_tokenizer_test";
  fs::create_directories(dir);
  EXPECT_THROW(ClipTokenizer(dir / "absent.txt.gz"), core::InputError);
  const auto plain = dir / "plain.txt";
  std::ofstream(plain) << "#version: 0.2\ne r\n";
  try {
    ClipTokenizer tokenizer(plain);
    FAIL() << "a plain-text file was accepted";
  } catch (const core::InputError& error) {
    EXPECT_THAT(error.what(), ::testing::HasSubstr("plain.txt"));
  }
}

TEST(ClipTokenizer, EnvironmentVariableChoosesTheVocabulary) {
  const auto shipped = ClipTokenizer::default_vocab_path();
  EXPECT_TRUE(fs::exists(shipped));
  ::setenv("DSBENCH_CLIP_VOCAB", "/nonexistent/vocab.txt.gz", 1);
  EXPECT_EQ(ClipTokenizer::default_vocab_path(), fs::path("/nonexistent/vocab.txt.gz"));
  ::unsetenv("DSBENCH_CLIP_VOCAB");
  ClipTokenizer from_file(shipped);
  EXPECT_EQ(from_file.encode("a photo of a cat"), tokenizer().encode("a photo of a cat"));
}

// ---- the clean-up steps against Python's behaviour (values from python3: html.unescape,
// str.lower, str.isspace, re.sub(r"\s+", " ", t)).

std::string clean(const std::string& text) { return ClipTokenizer::clean_text(text); }

TEST(ClipTextCleanup, HtmlUnescapeFollowsPython) {
  const auto unescape = [](const std::string& text) {
    return clip_text::encode_utf8(clip_text::html_unescape(clip_text::decode_utf8(text)));
  };
  EXPECT_EQ(unescape("&amp;amp;"), "&amp;");
  EXPECT_EQ(unescape("&lt;b&gt;"), "<b>");
  EXPECT_EQ(unescape("&copy2023"), "\u00a92023");   // legacy name without ';', longest prefix
  EXPECT_EQ(unescape("&notit;"), "\u00acit;");       // html.unescape('&notit;') == '¬it;'
  EXPECT_EQ(unescape("&#65;&#x42;&#X43"), "ABC");
  EXPECT_EQ(unescape("&#128;"), "\u20ac");            // Windows-1252 rule
  EXPECT_EQ(unescape("&#0;"), "\uFFFD");
  EXPECT_EQ(unescape("&#1;x"), "x");                  // invalid code point: dropped
  EXPECT_EQ(unescape("&#xD800;"), "\uFFFD");
  EXPECT_EQ(unescape("&#99999999999;"), "\uFFFD");
  EXPECT_EQ(unescape("&unknown; & &#; &#x;"), "&unknown; & &#; &#x;");
}

TEST(ClipTextCleanup, LowerCasingFollowsPythonStrLower) {
  EXPECT_EQ(clean("ÀÉÎÕÜ ÑÇ ΣΊΣΥΦΟΣ"), "àéîõü ñç σίσυφος");  // final sigma
  EXPECT_EQ(clean("İ"), "i\u0307");                            // full mapping, as Python
  EXPECT_EQ(clean("СТРАШНАЯ СКАЗКА"), "страшная сказка");
}

TEST(ClipTextCleanup, WhitespaceIsCollapsedAndStripped) {
  EXPECT_EQ(clean("  a \t\n\u00a0b\u2003c\r\n"), "a b c");
  EXPECT_EQ(clean("a\u200bb"), "a\u200bb");  // zero-width space is not whitespace in Python
}

TEST(ClipTextCleanup, PreTokensFollowThePattern) {
  const auto split = [](const std::string& text) {
    std::vector<std::string> out;
    for (const auto& piece : clip_text::split_pretokens(clip_text::decode_utf8(text))) {
      out.push_back(clip_text::encode_utf8(piece));
    }
    return out;
  };
  EXPECT_THAT(split("can't we've they'll i'd"),
              ElementsAre("can", "'t", "we", "'ve", "they", "'ll", "i", "'d"));
  EXPECT_THAT(split("1865!!! ok...\"x\""), ElementsAre("1", "8", "6", "5", "!!!", "ok", "...\"", "x", "\""));
  EXPECT_THAT(split("!'s"), ElementsAre("!'", "s"));
  EXPECT_THAT(split("x<|endoftext|>y"), ElementsAre("x", "<|endoftext|>", "y"));
  EXPECT_THAT(split("²½"), ElementsAre("²", "½"));  // \p{N} includes No
  EXPECT_THAT(split("ǅa"), ElementsAre("ǅa"));       // Lt is a letter
}

}  // namespace
}  // namespace dsbench::diffusion
