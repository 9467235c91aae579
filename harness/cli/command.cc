#include "harness/cli/command.h"

#include <algorithm>
#include <cstdlib>
#include <iostream>

#include "core/errors.h"
#include "harness/config/config.h"

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

void add_store_options(boost::program_options::options_description& options) {
  namespace po = boost::program_options;
  options.add_options()
      ("store", po::value<std::string>(), "run store: a SQLite file or postgresql://... (default: the config's store.url, "
       "$DSBENCH_STORE, runs/dsbench.sqlite)")
      ("config", po::value<std::string>(), "take the store from this run config's store.url");
}

std::string store_location(const boost::program_options::variables_map& values) {
  if (values.count("store")) return values["store"].as<std::string>();
  if (values.count("config")) return harness::load_config(values["config"].as<std::string>()).store.url;
  if (const char* env = std::getenv("DSBENCH_STORE"); env != nullptr && *env != '\0') return env;
  return "runs/dsbench.sqlite";
}

std::int64_t parse_run_id(const std::string& text, const std::string& what) {
  std::size_t used = 0;
  long long value = 0;
  try {
    value = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || value <= 0) {
    throw core::InputError(core::Location{"", 0, what}, "expected a run id (a positive integer, see: dsbench runs), got '" +
                                                          text + "'");
  }
  return value;
}

}  // namespace dsbench::cli
