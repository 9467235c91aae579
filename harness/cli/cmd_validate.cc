// dsbench validate: checks a run config (every problem at once, file:line: key: message)
// or a dataset folder, without running anything. Exit 0 when clean, 2 with problems.
#include <iostream>
#include <string>
#include <vector>

#include "core/errors.h"
#include "core/text.h"
#include "datasets/dataset.h"
#include "harness/cli/command.h"
#include "harness/config/config.h"

namespace dsbench::cli {
namespace {

namespace po = boost::program_options;

// Prints problems one per line; returns how many there were.
template <typename Problem, typename Describe>
std::size_t print_problems(const std::vector<Problem>& problems, Describe describe) {
  for (const auto& problem : problems) std::cout << describe(problem) << "\n";
  return problems.size();
}

std::size_t validate_dataset(const std::string& path) {
  const auto problems = datasets::validate_dataset(path);
  if (!problems.empty()) {
    return print_problems(problems, [](const datasets::Problem& problem) { return problem.to_string(); });
  }
  std::cout << "ok: " << path << "\n";
  return 0;
}

// The stories a config selects exist in its dataset (after the dataset itself is clean).
std::size_t validate_selection(const harness::RunConfig& config) {
  const std::size_t problems = validate_dataset(config.dataset.root);
  if (problems > 0) return problems;
  try {
    datasets::Selection selection;
    selection.story_ids = config.dataset.stories;
    selection.categories = config.dataset.categories;
    selection.limit = config.dataset.limit;
    selection.max_scenes = config.dataset.max_scenes;
    const auto selected = datasets::select(datasets::load_dataset(config.dataset.root), selection);
    std::cout << "ok: the config selects " << selected.stories.size() << " stor"
              << (selected.stories.size() == 1 ? "y" : "ies") << "\n";
    return 0;
  } catch (const core::InputError& error) {
    std::cout << config.source << ": dataset: " << error.what() << "\n";
    return 1;
  }
}

std::size_t validate_config(const std::string& path, const std::vector<std::string>& overrides, bool print_resolved,
                            bool check_dataset) {
  const auto problems = harness::check_config(path, overrides);
  if (!problems.empty()) {
    return print_problems(problems, [](const core::InputError& error) { return std::string(error.what()); });
  }
  const harness::RunConfig config = harness::load_config(path, overrides);
  if (print_resolved) std::cout << config.resolved.dump(2) << "\n";
  std::cout << "ok: " << path << " (config hash " << config.hash << ")\n";
  if (!check_dataset || config.dataset.format == "generated") return 0;
  return validate_selection(config);
}

bool looks_like_config(const std::string& path) {
  const std::string lower = core::to_lower_ascii(path);
  return lower.ends_with(".yaml") || lower.ends_with(".yml");
}

int run_validate(const Arguments& args) {
  po::options_description options("options");
  options.add_options()
      ("config", po::value<std::string>(), "a run config (YAML) to check")
      ("set", po::value<std::vector<std::string>>()->composing(),
       "override a config key, e.g. --set sampler.steps=4 --set systems[1].params.lambda=0.8 (repeatable)")
      ("print", "with --config: also print the fully resolved config (JSON)")
      ("no-dataset", "with --config: skip checking the config's dataset and story selection")
      ("keys", "list every config key with its type, default and allowed values")
      ("dataset", po::value<std::string>(), "a dataset (DS-500 release folder, JSONL dataset, per-case JSON folder)")
      ("path", po::value<std::vector<std::string>>(),
       "(positional) configs (.yaml/.yml) and datasets may also be named without --config/--dataset");
  po::positional_options_description positional;
  positional.add("path", -1);
  po::variables_map values;
  if (!parse_command_line(args,
                          "validate (--config FILE [--set KEY=VALUE]... [--print] | --dataset PATH | PATH... | --keys)\n\n"
                          "Lists every problem (file:line: key: message) and exits 2, or prints ok and exits 0.",
                          options, positional, values)) {
    return 0;
  }
  if (values.count("keys")) {
    std::cout << harness::describe_config_keys();
    return 0;
  }
  std::vector<std::string> configs;
  std::vector<std::string> datasets;
  if (values.count("config")) configs.push_back(values["config"].as<std::string>());
  if (values.count("dataset")) datasets.push_back(values["dataset"].as<std::string>());
  if (values.count("path")) {
    for (const auto& path : values["path"].as<std::vector<std::string>>()) {
      (looks_like_config(path) ? configs : datasets).push_back(path);
    }
  }
  const auto overrides =
      values.count("set") ? values["set"].as<std::vector<std::string>>() : std::vector<std::string>{};
  if (configs.empty() && datasets.empty()) {
    throw core::InputError("nothing to validate: give --config FILE or --dataset PATH (see: dsbench validate --help)");
  }
  if (!overrides.empty() && configs.empty()) throw core::InputError("--set needs --config");

  std::size_t problems = 0;
  for (const auto& config : configs) problems += validate_config(config, overrides, values.count("print") > 0, values.count("no-dataset") == 0);
  for (const auto& dataset : datasets) problems += validate_dataset(dataset);
  if (problems == 0) return 0;
  std::cerr << problems << " problem(s) found\n";
  return static_cast<int>(core::ExitCode::kInputError);
}

}  // namespace

DSBENCH_COMMAND("validate", "check a run config (--config) or a dataset (--dataset); every problem at once",
                run_validate);

}  // namespace dsbench::cli
