// dsbench run: plans a config into work items and runs them (or prints the plan with
// --dry-run). Exit 0 when the run finished without failures, 1 when an item failed or
// the run was interrupted, 2 for config/data problems.
#include <iomanip>
#include <iostream>
#include <string>
#include <vector>

#include "core/errors.h"
#include "harness/cli/command.h"
#include "harness/config/config.h"
#include "harness/evaluation/evaluation.h"
#include "harness/executor/executor.h"
#include "harness/executor/progress.h"
#include "harness/executor/stop.h"
#include "harness/planning/plan.h"
#include "harness/store/store.h"
#include "pipeline/systems/registry.h"

namespace dsbench::cli {
namespace {

namespace po = boost::program_options;

int dry_run(const harness::RunConfig& config, const std::optional<planning::ShardSpec>& shard) {
  const datasets::Dataset selected = planning::load_selected_dataset(config);
  planning::Plan plan = planning::make_plan(config, selected);
  if (shard) plan = planning::shard(plan, shard->index, shard->count);
  std::cout << planning::describe_plan(config, selected, plan, shard ? shard->to_string() : "");
  std::cout << "dry run: nothing was run and the store was not opened\n";
  return 0;
}

// A database URL without its password, for messages.
std::string shown_store(const std::string& store) {
  const auto scheme = store.find("://");
  const auto at = store.find('@');
  if (scheme == std::string::npos || at == std::string::npos) return store;
  const auto colon = store.find(':', scheme + 3);
  if (colon == std::string::npos || colon > at) return store;
  return store.substr(0, colon + 1) + "***" + store.substr(at);
}

void print_outcome(const executor::Outcome& outcome) {
  std::cerr << "run " << outcome.run_id << ": " << outcome.status << " (" << outcome.completed << " item(s) done now, "
            << outcome.done_before << " before, " << outcome.failed_total << " failed, " << outcome.remaining
            << " remaining of " << outcome.planned << ")\n";
  if (!outcome.stage_seconds.empty()) {
    std::cerr << "stage times:";
    for (const auto& [stage, seconds] : outcome.stage_seconds) {
      std::cerr << " " << stage << " " << std::fixed << std::setprecision(2) << seconds << "s";
    }
    std::cerr << "\n";
  }
  std::cerr << "images under " << outcome.run_dir.string() << "\n";
  if (outcome.interrupted) {
    std::cerr << "interrupted: run the same command again to resume, or dsbench run --resume " << outcome.run_id
              << " --store " << shown_store(outcome.store_path.string()) << "\n";
  }
}

// Scores a run that finished cleanly with the config's evaluation settings (the metrics
// land in the store next to the images; `dsbench show RUN` lists their summaries).
void evaluate(const harness::RunConfig& config, const executor::Outcome& outcome) {
  const evaluation::Options options = evaluation::options_from_config(config.resolved);
  store::Store store = store::Store::open(outcome.store_path);
  const evaluation::Report report = evaluation::evaluate_run(store, std::stoll(outcome.run_id), options);
  std::cerr << "evaluated run " << outcome.run_id << " with " << options.model << ": " << report.values
            << " metric value(s), " << report.summaries << " summar" << (report.summaries == 1 ? "y" : "ies") << ", "
            << report.images << " image(s) (" << report.embedded << " embedded now) in " << std::fixed
            << std::setprecision(1) << report.seconds << "s; see dsbench show " << outcome.run_id << "\n";
  for (const auto& note : report.notes) std::cerr << "note: " << note << "\n";
}

int run_run(const Arguments& args) {
  po::options_description options("options");
  options.add_options()
      ("config", po::value<std::string>(), "the run config (YAML)")
      ("set", po::value<std::vector<std::string>>()->composing(),
       "override a config key, e.g. --set sampler.steps=4 (repeatable)")
      ("store", po::value<std::string>(),
       "the store instead of store.url, without changing the config hash: a SQLite file (with --shard K/N every "
       "shard writes <stem>.shard-K-of-N<ext> beside it; join them with dsbench merge) or postgresql://... "
       "(one database shared by every worker and shard; a dead worker's items are redone when its --lease runs out)")
      ("dry-run", "print the plan (systems x stories x scenes x seeds, item counts) and exit without running")
      ("resume", po::value<std::string>(), "resume run RUN of the store (it must have been made with this config; without --config its stored "
       "config is used, with --store)")
      ("shard", po::value<std::string>(),
       "run only shard K/N (0-based) of the items; 'auto' reads $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT, "
       "'auto/N' also $JOB_COMPLETION_INDEX")
      ("workers-id", po::value<std::string>(), "name of this worker in the store (default host:pid)")
      ("lease", po::value<double>()->default_value(600.0), "seconds a claimed item stays reserved without a heartbeat")
      ("no-progress", "no progress bar or progress lines")
      ("no-eval", "do not evaluate the run's metrics when it finishes (dsbench eval RUN does it later)")
      ("no-cache", "ask the director's LLM endpoints again instead of reusing recorded answers (answers are still recorded)");
  po::positional_options_description positional;
  po::variables_map values;
  if (!parse_command_line(args,
                          "run --config FILE [--set KEY=VALUE]... [--dry-run] [--resume RUN] [--shard K/N] "
                          "[--store FILE] [--workers-id NAME] [--no-progress] [--no-eval] [--no-cache]\n"
                          "       dsbench run --resume RUN --store FILE\n\n"
                          "Runs every work item of the config. A config names its run: running it again\n"
                          "resumes that run (finished items are skipped, failed ones retried).\n"
                          "A run that finishes without failures is then evaluated (the config's metrics;\n"
                          "--no-eval skips it).\n"
                          "Exit 0: finished without failures; 1: an item failed or the run was interrupted;\n"
                          "2: a config, data or usage problem.",
                          options, positional, values)) {
    return 0;
  }
  const auto overrides =
      values.count("set") ? values["set"].as<std::vector<std::string>>() : std::vector<std::string>{};
  harness::RunConfig config;
  if (values.count("config")) {
    config = harness::load_config(values["config"].as<std::string>(), overrides);
  } else if (values.count("resume") && values.count("store")) {
    // The run's own stored config, exactly as it was resolved.
    if (!overrides.empty()) throw core::InputError("--set needs --config (a resumed run keeps its stored config)");
    config = executor::config_of_run(values["store"].as<std::string>(), values["resume"].as<std::string>());
  } else {
    throw core::InputError("run needs --config FILE, or --resume RUN with --store FILE (see: dsbench run --help)");
  }
  std::optional<planning::ShardSpec> shard;
  if (values.count("shard")) shard = planning::parse_shard(values["shard"].as<std::string>());
  if (values.count("dry-run")) return dry_run(config, shard);

  executor::Options run_options;
  if (values.count("resume")) run_options.resume_run = values["resume"].as<std::string>();
  if (values.count("workers-id")) run_options.worker_id = values["workers-id"].as<std::string>();
  run_options.shard = shard;
  if (values.count("store")) run_options.store_path = values["store"].as<std::string>();
  run_options.no_cache = values.count("no-cache") > 0;
  run_options.lease_seconds = values["lease"].as<double>();
  if (run_options.lease_seconds <= 0) throw core::InputError(core::Location{"", 0, "--lease"}, "a positive number of seconds");
  if (!values.count("no-progress")) {
    run_options.progress = &std::cerr;
    run_options.progress_terminal = executor::is_terminal(std::cerr);
  }
  run_options.log = &std::cerr;
  const executor::StopSignals signals;
  run_options.stop_requested = [] { return executor::StopSignals::requested(); };

  const executor::Outcome outcome = executor::execute(
      config, run_options, [](const harness::SystemConfig& system, const systems::ModelSettings& model) {
        return systems::create_system(system.type, system.params, model);
      });
  print_outcome(outcome);
  const core::ExitCode exit_code = outcome.exit_code();
  if (exit_code == core::ExitCode::kOk && !config.metrics.empty() && !values.count("no-eval")) evaluate(config, outcome);
  return static_cast<int>(exit_code);
}

}  // namespace

DSBENCH_COMMAND("run", "run a config's systems over its stories (or --dry-run to print the plan)", run_run);

}  // namespace dsbench::cli
