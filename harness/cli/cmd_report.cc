// dsbench report RUN: HTML (self-contained, offline), Markdown and JSON of a run.
#include <iostream>

#include "core/errors.h"
#include "harness/cli/command.h"
#include "harness/store/store.h"
#include "reports/report.h"

namespace dsbench::cli {
namespace {

namespace po = boost::program_options;

int run_report(const Arguments& args) {
  po::options_description options("options");
  add_store_options(options);
  options.add_options()
      ("run", po::value<std::string>(), "(positional) the run id")
      ("out", po::value<std::string>(), "output folder (default: <run output dir>/report)")
      ("story", po::value<std::vector<std::string>>()->composing(), "a story to show as a strip (repeatable)")
      ("max-strips", po::value<int>()->default_value(3), "strips when no --story is given");
  po::positional_options_description positional;
  positional.add("run", 1);
  po::variables_map values;
  if (!parse_command_line(args, "report RUN [--store PATH | --config FILE] [--out DIR] [--story ID]...", options,
                          positional, values)) {
    return 0;
  }
  if (!values.count("run")) throw core::InputError("which run? dsbench report RUN (dsbench runs lists them)");
  const store::Store store = store::Store::open(store_location(values));
  reports::ReportOptions report_options;
  if (values.count("story")) report_options.stories = values["story"].as<std::vector<std::string>>();
  report_options.max_strips = values["max-strips"].as<int>();
  const auto model = reports::build_report_model(store, parse_run_id(values["run"].as<std::string>()), report_options);
  const std::filesystem::path out =
      values.count("out") ? std::filesystem::path(values["out"].as<std::string>())
                          : std::filesystem::path(model.run.output_dir) / ("report-run-" + std::to_string(model.run.id));
  const auto files = reports::write_report(model, out);
  std::cout << "report of run " << model.run.id << ": " << files.html.string() << "\n  " << files.markdown.string()
            << "\n  " << files.json.string() << "\n  " << files.images << " image(s) copied\n";
  return 0;
}

}  // namespace

DSBENCH_COMMAND("report", "write a run's report: self-contained HTML with plots and story strips, Markdown, JSON",
                run_report);

}  // namespace dsbench::cli
