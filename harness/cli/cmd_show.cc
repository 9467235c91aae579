// dsbench show RUN: a run's config, status, item counts, artifacts and metric summaries;
// --verify rehashes every artifact on disk against the store.
#include <iomanip>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "core/errors.h"
#include "core/hashing.h"
#include "harness/cli/command.h"
#include "harness/store/store.h"

namespace dsbench::cli {
namespace {

namespace po = boost::program_options;
namespace fs = std::filesystem;

struct ArtifactProblem {
  std::string path;
  std::string problem;
};

std::vector<ArtifactProblem> verify_artifacts(const store::RunInfo& run,
                                              const std::vector<store::ArtifactRow>& artifacts) {
  std::vector<ArtifactProblem> problems;
  for (const auto& artifact : artifacts) {
    const fs::path file = fs::path(run.output_dir) / artifact.path;
    std::error_code error;
    if (!fs::is_regular_file(file, error)) {
      problems.push_back({file.string(), "missing"});
      continue;
    }
    const auto bytes = static_cast<std::int64_t>(fs::file_size(file, error));
    if (bytes != artifact.bytes) {
      problems.push_back({file.string(), "size " + std::to_string(bytes) + " bytes, the store recorded " +
                                             std::to_string(artifact.bytes)});
      continue;
    }
    const std::string sha = core::sha256_file(file);
    if (sha != artifact.sha256) {
      problems.push_back({file.string(), "sha256 " + sha.substr(0, 16) + "…, the store recorded " +
                                             artifact.sha256.substr(0, 16) + "…"});
    }
  }
  return problems;
}

int run_show(const Arguments& args) {
  po::options_description options("options");
  add_store_options(options);
  options.add_options()
      ("run", po::value<std::string>(), "(positional) the run id")
      ("verify", "rehash every artifact file and compare with the store (exit 1 on any mismatch)")
      ("print-config", "print the run's fully resolved config")
      ("json", "print one JSON object");
  po::positional_options_description positional;
  positional.add("run", 1);
  po::variables_map values;
  if (!parse_command_line(args, "show RUN [--store PATH | --config FILE] [--verify] [--print-config] [--json]",
                          options, positional, values)) {
    return 0;
  }
  if (!values.count("run")) throw core::InputError("which run? dsbench show RUN (dsbench runs lists them)");
  const store::Store store = store::Store::open(store_location(values));
  const store::RunInfo run = store.get_run(parse_run_id(values["run"].as<std::string>()));
  const auto counts = store.status_counts(run.id);
  const auto artifacts = store.artifacts_of_run(run.id);
  std::int64_t artifact_bytes = 0;
  for (const auto& artifact : artifacts) artifact_bytes += artifact.bytes;
  const auto summaries = store.metric_summaries(run.id);
  const bool verify = values.count("verify") > 0;
  const auto problems = verify ? verify_artifacts(run, artifacts) : std::vector<ArtifactProblem>{};

  // system -> kind -> status -> count
  std::map<std::string, std::map<std::string, std::map<std::string, std::int64_t>>> table;
  for (const auto& count : counts) table[count.system][count.kind][count.status] += count.count;

  if (values.count("json")) {
    nlohmann::json out = {{"id", run.id},
                          {"name", run.name},
                          {"status", run.status},
                          {"message", run.message},
                          {"config_hash", run.config_hash},
                          {"project_version", run.project_version},
                          {"host", run.host},
                          {"output_dir", run.output_dir},
                          {"created_at", run.created_at},
                          {"started_at", run.started_at},
                          {"finished_at", run.finished_at},
                          {"items", table},
                          {"artifacts", {{"count", artifacts.size()}, {"bytes", artifact_bytes}}}};
    nlohmann::json metrics = nlohmann::json::array();
    for (const auto& s : summaries) {
      if (s.group_kind != "all") continue;
      metrics.push_back({{"system", s.system}, {"metric", s.metric}, {"n", s.n}, {"mean", s.mean},
                         {"ci_low", s.ci_low}, {"ci_high", s.ci_high}});
    }
    out["metrics"] = metrics;
    if (values.count("print-config")) out["config"] = nlohmann::json::parse(run.config_json, nullptr, false);
    if (verify) {
      nlohmann::json bad = nlohmann::json::array();
      for (const auto& p : problems) bad.push_back({{"path", p.path}, {"problem", p.problem}});
      out["verify"] = {{"checked", artifacts.size()}, {"problems", bad}};
    }
    std::cout << out.dump(2) << "\n";
  } else {
    std::cout << "run " << run.id << "  " << run.name << "\n"
              << "  status      " << run.status << (run.message.empty() ? "" : " (" + run.message + ")") << "\n"
              << "  config hash " << run.config_hash << "\n"
              << "  version     " << run.project_version << " on " << run.host << "\n"
              << "  output      " << run.output_dir << "\n"
              << "  created     " << run.created_at << "   started " << (run.started_at.empty() ? "-" : run.started_at)
              << "   finished " << (run.finished_at.empty() ? "-" : run.finished_at) << "\n\n";
    std::cout << std::left << "  " << std::setw(26) << "system" << std::setw(10) << "kind" << std::setw(8) << "done"
              << std::setw(8) << "failed" << std::setw(9) << "running" << "pending\n";
    for (const auto& [system, kinds] : table) {
      for (const auto& [kind, statuses] : kinds) {
        auto get = [&](const char* s) { return statuses.count(s) ? statuses.at(s) : 0; };
        std::cout << "  " << std::setw(26) << system.substr(0, 25) << std::setw(10) << kind << std::setw(8)
                  << get("done") << std::setw(8) << get("failed") << std::setw(9) << get("running") << get("pending")
                  << "\n";
      }
    }
    std::cout << "\n  artifacts   " << artifacts.size() << " files, " << artifact_bytes << " bytes\n";
    if (!summaries.empty()) {
      std::cout << "\n  " << std::setw(26) << "system" << std::setw(26) << "metric" << std::setw(6) << "n"
                << "mean [95% CI]\n";
      for (const auto& s : summaries) {
        if (s.group_kind != "all") continue;
        std::cout << "  " << std::setw(26) << s.system.substr(0, 25) << std::setw(26) << s.metric << std::setw(6) << s.n
                  << std::fixed << std::setprecision(4) << s.mean << " [" << s.ci_low << ", " << s.ci_high << "]\n";
      }
    }
    if (values.count("print-config")) {
      std::cout << "\n" << nlohmann::json::parse(run.config_json, nullptr, false).dump(2) << "\n";
    }
    if (verify) {
      std::cout << "\n  verify      " << artifacts.size() - problems.size() << "/" << artifacts.size()
                << " artifacts match the store\n";
      for (const auto& p : problems) std::cout << "    " << p.path << ": " << p.problem << "\n";
    }
  }
  return problems.empty() ? 0 : static_cast<int>(core::ExitCode::kRunFailure);
}

}  // namespace

DSBENCH_COMMAND("show", "a run's config, status, item counts, artifacts and metrics (--verify rehashes artifacts)",
                run_show);

}  // namespace dsbench::cli
