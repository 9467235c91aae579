#include "harness/cli/command.h"

#include <algorithm>
#include <iostream>

#include "core/errors.h"

namespace dsbench::cli {
namespace {

std::vector<CommandInfo>& registry() {
  static std::vector<CommandInfo> all;
  return all;
}

}  // namespace

bool register_command(CommandInfo info) {
  auto& all = registry();
  all.push_back(std::move(info));
  std::sort(all.begin(), all.end(),
            [](const CommandInfo& a, const CommandInfo& b) { return a.name < b.name; });
  return true;
}

const std::vector<CommandInfo>& commands() { return registry(); }

bool parse_command_line(const Arguments& args, const std::string& usage_line,
                        const boost::program_options::options_description& options,
                        const boost::program_options::positional_options_description& positional,
                        boost::program_options::variables_map& values) {
  namespace po = boost::program_options;
  po::options_description all("Options");
  all.add_options()("help,h", "print this help and exit");
  all.add(options);
  try {
    po::store(po::command_line_parser(args).options(all).positional(positional).run(), values);
    if (values.count("help") != 0) {
      std::cout << "usage: dsbench " << usage_line << "\n\n" << all << "\n";
      return false;
    }
    po::notify(values);
  } catch (const po::error& e) {
    throw core::InputError(std::string(e.what()) + "\n(see: dsbench " +
                           usage_line.substr(0, usage_line.find(' ')) + " --help)");
  }
  return true;
}

}  // namespace dsbench::cli
