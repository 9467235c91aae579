// dsbench eval RUN | --images DIR: DreamSim, D&C-DS and consistency for a run in the store,
// or for a folder of images made elsewhere (imported as a run of its own first; the
// layouts are described in harness/evaluation/evaluation.h).
#include <iomanip>
#include <iostream>

#include "core/errors.h"
#include "harness/cli/command.h"
#include "harness/evaluation/evaluation.h"

namespace dsbench::cli {
namespace {

namespace po = boost::program_options;

int run_eval(const Arguments& args) {
  po::options_description options("options");
  add_store_options(options);
  options.add_options()
      ("run", po::value<std::string>(), "(positional) the run id")
      ("images", po::value<std::string>(), "import this folder as a new run, then evaluate it")
      ("system", po::value<std::string>()->default_value("imported"), "system name for --images")
      ("model", po::value<std::string>()->default_value("ensemble"),
       "DreamSim model: ensemble, dino_vitb16, clip_vitb16, open_clip_vitb16, clip_vitb32, open_clip_vitb32, tiny-<name>")
      ("weights", po::value<std::string>()->default_value(""),
       "folder of <backbone>.safetensors (scripts/convert_dreamsim.py); empty: random weights, tiny-* only")
      ("seed", po::value<std::uint64_t>()->default_value(0), "seed of random (tiny) weights")
      ("batch", po::value<int>()->default_value(16), "images per forward pass")
      ("threads", po::value<int>()->default_value(0), "torch threads (0 = default)")
      ("json", "print the report as JSON");
  po::positional_options_description positional;
  positional.add("run", 1);
  po::variables_map values;
  if (!parse_command_line(args, "eval (RUN | --images DIR) [--store PATH | --config FILE] [--model M] [--weights DIR]",
                          options, positional, values)) {
    return 0;
  }
  if (values.count("run") == values.count("images")) {
    throw core::InputError("give either a run id or --images DIR: dsbench eval RUN | dsbench eval --images DIR");
  }
  store::Store store = store::Store::open(store_location(values));
  store::RunId run = 0;
  if (values.count("images")) {
    run = evaluation::import_images(store, values["images"].as<std::string>(), values["system"].as<std::string>());
    std::cerr << "imported " << values["images"].as<std::string>() << " as run " << run << "\n";
  } else {
    run = parse_run_id(values["run"].as<std::string>());
  }
  evaluation::Options evaluation_options;
  evaluation_options.model = values["model"].as<std::string>();
  evaluation_options.weights_dir = values["weights"].as<std::string>();
  evaluation_options.random_seed = values["seed"].as<std::uint64_t>();
  evaluation_options.batch_size = values["batch"].as<int>();
  evaluation_options.threads = values["threads"].as<int>();
  const auto report = evaluation::evaluate_run(store, run, evaluation_options);
  if (values.count("json")) {
    std::cout << nlohmann::json{{"run", run}, {"images", report.images}, {"embedded", report.embedded},
                                {"values", report.values}, {"summaries", report.summaries},
                                {"seconds", report.seconds}}.dump() << "\n";
    return 0;
  }
  std::cout << "run " << run << ": " << report.images << " images/crops (" << report.embedded
            << " embedded, the rest cached), " << report.values << " metric values, " << report.summaries
            << " summaries in " << std::fixed << std::setprecision(3) << report.seconds << " s\n";
  for (const auto& summary : store.metric_summaries(run)) {
    if (summary.group_kind != "all") continue;
    std::cout << "  " << std::left << std::setw(16) << summary.system << std::setw(26) << summary.metric
              << " n=" << summary.n << "  mean " << std::setprecision(4) << summary.mean << "  95% CI ["
              << summary.ci_low << ", " << summary.ci_high << "]\n";
  }
  return 0;
}

}  // namespace

DSBENCH_COMMAND("eval", "DreamSim / D&C-DS / consistency metrics for a run or an imported image folder", run_eval);

}  // namespace dsbench::cli
