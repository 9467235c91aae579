// dsbench tokenize TEXT: the CLIP token ids of TEXT (start and end tokens included),
// space-separated on one line; --json prints a JSON array; --pad gives Stable Diffusion's
// 77-long form. Several TEXT words are joined with single spaces, as a shell would.
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/errors.h"
#include "harness/cli/command.h"
#include "pipeline/diffusion/clip_tokenizer.h"

namespace dsbench::cli {
namespace {

namespace po = boost::program_options;

int run_tokenize(const Arguments& args) {
  po::options_description options("options");
  options.add_options()
      ("json", "print a JSON array of ids")
      ("pad", "cut or pad to 77 ids (Stable Diffusion's text encoder input)")
      ("text", po::value<std::vector<std::string>>(), "the text (positional)");
  po::positional_options_description positional;
  positional.add("text", -1);
  po::variables_map values;
  if (!parse_command_line(args, "tokenize [--json] [--pad] TEXT", options, positional, values)) return 0;
  if (!values.count("text")) {
    throw core::InputError(core::Location{"", 0, "TEXT"}, "a text to tokenize, e.g. dsbench tokenize \"a photo of a cat\"");
  }
  std::string text;
  for (const auto& word : values["text"].as<std::vector<std::string>>()) text += (text.empty() ? "" : " ") + word;
  const auto& tokenizer = diffusion::ClipTokenizer::instance();
  const auto ids = values.count("pad") ? tokenizer.encode_padded(text) : tokenizer.encode(text);
  if (values.count("json")) {
    std::cout << nlohmann::json(ids).dump() << "\n";
    return 0;
  }
  for (std::size_t i = 0; i < ids.size(); ++i) std::cout << (i ? " " : "") << ids[i];
  std::cout << "\n";
  return 0;
}

}  // namespace

DSBENCH_COMMAND("tokenize", "print the CLIP token ids of a text (--json, --pad for the 77-long form)", run_tokenize);

}  // namespace dsbench::cli
