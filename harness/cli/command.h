// The CLI's command registry. Each command lives in its own file under harness/cli/ and
// registers itself with DSBENCH_COMMAND, in the style of Google Benchmark's BENCHMARK():
// adding a command touches no other file.
#pragma once

#include <boost/program_options.hpp>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace dsbench::cli {

using Arguments = std::vector<std::string>;  // the words after the command name
using CommandFunction = std::function<int(const Arguments&)>;

struct CommandInfo {
  std::string name;
  std::string summary;  // one line for `dsbench --help`
  CommandFunction run;  // returns the exit code; throws core::Error on failure
};

bool register_command(CommandInfo info);
const std::vector<CommandInfo>& commands();  // sorted by name

// Parses `args` against `options` (+ positionals). `--help` prints
// "usage: dsbench <usage_line>", the options and returns false (the caller returns 0).
// Unknown or malformed options throw core::InputError naming the option.
bool parse_command_line(const Arguments& args, const std::string& usage_line,
                        const boost::program_options::options_description& options,
                        const boost::program_options::positional_options_description& positional,
                        boost::program_options::variables_map& values);

// Commands that read the run store take `--store PATH|URL` or `--config FILE` (its
// store.url). store_location() picks, in order: --store, the config's store.url,
// $DSBENCH_STORE, runs/dsbench.sqlite (what configs/base.yaml names, from the checkout).
void add_store_options(boost::program_options::options_description& options);
std::string store_location(const boost::program_options::variables_map& values);

// A run named on the command line: a positive integer.
std::int64_t parse_run_id(const std::string& text, const std::string& what = "RUN");

}  // namespace dsbench::cli

#define DSBENCH_CONCAT_INNER(a, b) a##b
#define DSBENCH_CONCAT(a, b) DSBENCH_CONCAT_INNER(a, b)
// DSBENCH_COMMAND("name", "summary", function): registers at static-init time.
#define DSBENCH_COMMAND(name, summary, function)                          \
  static const bool DSBENCH_CONCAT(dsbench_command_registered_, __LINE__) = \
      ::dsbench::cli::register_command({name, summary, function})
