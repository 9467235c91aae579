// dsbench merge A.db B.db ... --into ALL.db: combines the stores of the shards of one run
// (dsbench run --shard K/N on several machines). Refuses stores of different configs;
// merging again changes nothing.
#include <iostream>
#include <map>

#include "core/errors.h"
#include "harness/cli/command.h"
#include "harness/store/store.h"

namespace dsbench::cli {
namespace {

namespace po = boost::program_options;

int run_merge(const Arguments& args) {
  po::options_description options("options");
  options.add_options()
      ("into", po::value<std::string>(), "the store to merge into (created if absent)")
      ("sources", po::value<std::vector<std::string>>(), "(positional) the shard stores");
  po::positional_options_description positional;
  positional.add("sources", -1);
  po::variables_map values;
  if (!parse_command_line(args, "merge SHARD.db... --into ALL.db", options, positional, values)) return 0;
  if (!values.count("into")) throw core::InputError(core::Location{"", 0, "--into"}, "name the store to merge into");
  if (!values.count("sources")) throw core::InputError("name at least one shard store to merge");
  const auto sources = values["sources"].as<std::vector<std::string>>();
  const std::string into = values["into"].as<std::string>();

  // All sources must hold runs of one config: check everything before writing anything.
  std::vector<store::Store> opened;
  std::map<std::string, std::string> first_with_hash;  // hash -> "file run N"
  for (const auto& source : sources) {
    if (source == into) throw core::InputError(core::Location{source, 0, ""}, "a store cannot be merged into itself");
    opened.push_back(store::Store::open(source));
    const auto runs = opened.back().list_runs();
    if (runs.empty()) throw core::InputError(core::Location{source, 0, ""}, "holds no run to merge");
    for (const auto& run : runs) {
      first_with_hash.emplace(run.config_hash, source + " run " + std::to_string(run.id));
    }
  }
  if (first_with_hash.size() > 1) {
    std::string list;
    for (const auto& [hash, where] : first_with_hash) list += "\n  " + where + ": config " + hash.substr(0, 12);
    throw core::InputError("the stores hold runs of different configs; merge only the shards of one run:" + list);
  }

  store::Store target = store::Store::open(into);
  store::RunId merged = 0;
  for (std::size_t i = 0; i < opened.size(); ++i) {
    for (const auto& run : opened[i].list_runs()) merged = target.merge_run_from(opened[i], run.id);
  }
  const store::StatusTotals totals = target.totals(merged);
  const auto run = target.get_run(merged);
  std::cout << "merged " << sources.size() << " store(s) into " << into << ": run " << merged << " (" << run.status
            << "), " << totals.done << "/" << totals.total << " items done\n";
  return 0;
}

}  // namespace

DSBENCH_COMMAND("merge", "merge the stores of a run's shards into one store (idempotent)", run_merge);

}  // namespace dsbench::cli
