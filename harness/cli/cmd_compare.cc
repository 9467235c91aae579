// dsbench compare BASELINE CANDIDATE: paired deltas of every metric with bootstrap CIs;
// exit 3 when a thresholded metric, a stage timing or a kernel benchmark regressed.
#include <iostream>

#include "core/errors.h"
#include "harness/cli/command.h"
#include "harness/config/config.h"
#include "harness/store/store.h"
#include "reports/compare.h"

namespace dsbench::cli {
namespace {

namespace po = boost::program_options;

int run_compare(const Arguments& args) {
  po::options_description options("options");
  add_store_options(options);
  options.add_options()
      ("runs", po::value<std::vector<std::string>>(), "(positional) BASELINE CANDIDATE run ids")
      ("baseline-store", po::value<std::string>(), "the baseline run's store, when it differs from --store")
      ("json", "print the comparison as JSON");
  po::positional_options_description positional;
  positional.add("runs", 2);
  po::variables_map values;
  if (!parse_command_line(args,
                          "compare BASELINE CANDIDATE [--store PATH | --config FILE] [--baseline-store PATH] [--json]\n\n"
                          "Thresholds come from --config's compare section, else from the candidate run's stored "
                          "config.\nExit 0: no regression; 3: a regression (named in the output); 2: bad input.",
                          options, positional, values)) {
    return 0;
  }
  const auto runs = values.count("runs") ? values["runs"].as<std::vector<std::string>>() : std::vector<std::string>{};
  if (runs.size() != 2) throw core::InputError("give two runs: dsbench compare BASELINE CANDIDATE");
  const std::string location = store_location(values);
  const store::Store candidate_store = store::Store::open(location);
  const store::Store baseline_store =
      store::Store::open(values.count("baseline-store") ? values["baseline-store"].as<std::string>() : location);
  const store::RunId baseline = parse_run_id(runs[0], "BASELINE");
  const store::RunId candidate = parse_run_id(runs[1], "CANDIDATE");
  (void)baseline_store.get_run(baseline);
  const auto candidate_run = candidate_store.get_run(candidate);
  const harness::RunConfig config =
      values.count("config") ? harness::load_config(values["config"].as<std::string>())
                             : harness::config_from_resolved(nlohmann::json::parse(candidate_run.config_json));
  const auto comparison = reports::compare_runs(baseline_store, baseline, candidate_store, candidate, config.compare);
  if (values.count("json")) {
    std::cout << reports::comparison_json(comparison).dump(2) << "\n";
  } else {
    std::cout << reports::format_comparison(comparison);
  }
  return comparison.regression() ? static_cast<int>(core::ExitCode::kRegression) : 0;
}

}  // namespace

DSBENCH_COMMAND("compare", "compare two runs metric by metric (paired bootstrap); exit 3 on a regression", run_compare);

}  // namespace dsbench::cli
