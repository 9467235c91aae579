// dsbench runs: the runs of a store, newest first, with their item counts.
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>

#include "harness/cli/command.h"
#include "harness/store/store.h"

namespace dsbench::cli {
namespace {

namespace po = boost::program_options;

int run_runs(const Arguments& args) {
  po::options_description options("options");
  add_store_options(options);
  options.add_options()("json", "print a JSON array")("limit", po::value<int>()->default_value(50), "newest N runs (0 = all)");
  po::variables_map values;
  if (!parse_command_line(args, "runs [--store PATH | --config FILE] [--json] [--limit N]", options, {}, values)) return 0;
  const store::Store store = store::Store::open(store_location(values));
  auto runs = store.list_runs();
  const int limit = values["limit"].as<int>();
  if (limit > 0 && runs.size() > static_cast<std::size_t>(limit)) runs.resize(static_cast<std::size_t>(limit));

  if (values.count("json")) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& run : runs) {
      const store::StatusTotals t = store.totals(run.id);
      out.push_back({{"id", run.id}, {"name", run.name}, {"status", run.status}, {"message", run.message},
                     {"items", t.total}, {"done", t.done}, {"failed", t.failed}, {"created_at", run.created_at},
                     {"started_at", run.started_at}, {"finished_at", run.finished_at},
                     {"config_hash", run.config_hash}, {"output_dir", run.output_dir}});
    }
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  if (runs.empty()) {
    std::cout << "no runs in " << store.path().string() << "\n";
    return 0;
  }
  std::cout << std::left << std::setw(6) << "id" << std::setw(22) << "name" << std::setw(13) << "status"
            << std::setw(14) << "done/items" << std::setw(8) << "failed" << std::setw(22) << "created"
            << "config\n";
  for (const auto& run : runs) {
    const store::StatusTotals t = store.totals(run.id);
    std::cout << std::left << std::setw(6) << run.id << std::setw(22) << run.name.substr(0, 21) << std::setw(13)
              << run.status << std::setw(14) << (std::to_string(t.done) + "/" + std::to_string(t.total))
              << std::setw(8) << t.failed << std::setw(22) << run.created_at << run.config_hash.substr(0, 12) << "\n";
  }
  return 0;
}

}  // namespace

DSBENCH_COMMAND("runs", "list the runs of a store (newest first) with item counts", run_runs);

}  // namespace dsbench::cli
