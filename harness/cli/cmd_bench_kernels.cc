// dsbench bench kernels: runs the MMSA/MMCA kernel benchmarks (build/dsbench_kernels_bench,
// found next to this executable) and prints their table, or Google Benchmark's JSON with
// --json. With --json (or an explicit --store/--config) the results also go to the run
// store (suite "kernels"; params parsed from the benchmark names, counters kept) so that
// reports can plot throughput against subject count.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/errors.h"
#include "core/files.h"
#include "harness/cli/command.h"
#include "harness/store/store.h"

namespace dsbench::cli {
namespace {

namespace po = boost::program_options;

std::filesystem::path kernels_benchmark_path() {
  std::error_code error;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", error);
  if (error) throw core::RunError("cannot locate the dsbench executable (/proc/self/exe): " + error.message());
  return self.parent_path() / "dsbench_kernels_bench";
}

// fork + execv rather than a shell: the filter regex reaches the benchmark verbatim.
int run_and_wait(const std::filesystem::path& program, const std::vector<std::string>& arguments) {
  std::vector<char*> argv;
  std::string program_name = program.string();
  argv.push_back(program_name.data());
  std::vector<std::string> copies = arguments;
  for (auto& argument : copies) argv.push_back(argument.data());
  argv.push_back(nullptr);
  std::cout.flush();
  const pid_t child = fork();
  if (child < 0) throw core::RunError("cannot start " + program.string() + ": fork failed");
  if (child == 0) {
    execv(program_name.c_str(), argv.data());
    _exit(127);
  }
  int status = 0;
  if (waitpid(child, &status, 0) < 0) throw core::RunError("lost the benchmark process " + program.string());
  if (WIFEXITED(status)) {
    if (WEXITSTATUS(status) == 127) throw core::RunError("cannot execute " + program.string());
    return WEXITSTATUS(status);
  }
  throw core::RunError(program.string() + " was killed by signal " + std::to_string(WTERMSIG(status)));
}

std::string host_name() {
  char buffer[256] = {};
  if (::gethostname(buffer, sizeof buffer - 1) != 0) return "localhost";
  return buffer;
}

// "BM_mmsa_grouped/S:4/h:64/w:64/heads:8/real_time" → {"S": 4, "h": 64, ...}.
nlohmann::json params_of(const std::string& name) {
  nlohmann::json params = nlohmann::json::object();
  std::size_t start = name.find('/');
  while (start != std::string::npos) {
    const auto end = name.find('/', start + 1);
    const auto part = name.substr(start + 1, end == std::string::npos ? std::string::npos : end - start - 1);
    const auto colon = part.find(':');
    if (colon != std::string::npos) {
      const auto key = part.substr(0, colon);
      const auto value = part.substr(colon + 1);
      try {
        params[key] = std::stoll(value);
      } catch (const std::exception&) {
        params[key] = value;
      }
    }
    start = end;
  }
  return params;
}

// Google Benchmark's JSON report → store rows (aggregates and skipped runs left out).
std::vector<store::BenchmarkResult> results_of(const nlohmann::json& report, const std::string& origin) {
  if (!report.is_object() || !report.contains("benchmarks") || !report["benchmarks"].is_array()) {
    throw core::RunError("the kernel benchmark wrote no \"benchmarks\" array to " + origin);
  }
  static const std::vector<std::string> kStandard = {"name", "family_index", "per_family_instance_index", "run_name",
                                                     "run_type", "repetitions", "repetition_index", "threads",
                                                     "iterations", "real_time", "cpu_time", "time_unit",
                                                     "error_occurred", "error_message", "aggregate_name",
                                                     "aggregate_unit", "label"};
  std::vector<store::BenchmarkResult> results;
  const auto host = host_name();
  for (const auto& entry : report["benchmarks"]) {
    if (entry.value("run_type", "iteration") != "iteration" || entry.value("error_occurred", false)) continue;
    store::BenchmarkResult result;
    result.suite = "kernels";
    result.name = entry.value("name", "");
    const auto family = result.name.substr(0, result.name.find('/'));
    result.params = params_of(result.name);
    result.params["benchmark"] = family;
    result.real_time = entry.value("real_time", 0.0);
    result.cpu_time = entry.value("cpu_time", 0.0);
    result.time_unit = entry.value("time_unit", "ns");
    result.iterations = entry.value("iterations", std::int64_t{0});
    for (const auto& [key, value] : entry.items()) {
      if (value.is_number() && std::find(kStandard.begin(), kStandard.end(), key) == kStandard.end()) {
        result.counters[key] = value;
      }
    }
    result.host = host;
    results.push_back(std::move(result));
  }
  return results;
}

int run_bench_kernels(const Arguments& args) {
  po::options_description options("options");
  options.add_options()
      ("json", "print Google Benchmark JSON instead of the table")
      ("filter", po::value<std::string>(), "regex of benchmarks to run, e.g. 'mmsa_.*/h:64/'")
      ("min-time", po::value<double>(), "minimum seconds per benchmark (short runs: 0.01)");
  add_store_options(options);
  po::variables_map values;
  if (!parse_command_line(args, "bench kernels [--json] [--store PATH|--config FILE] [--filter REGEX] [--min-time SECONDS]",
                          options, {},
                          values)) {
    return 0;
  }
  std::vector<std::string> forwarded;
  if (values.count("json")) forwarded.push_back("--benchmark_format=json");
  if (values.count("filter")) forwarded.push_back("--benchmark_filter=" + values["filter"].as<std::string>());
  if (values.count("min-time")) {
    const double seconds = values["min-time"].as<double>();
    if (!(seconds > 0.0)) throw core::InputError(core::Location{"", 0, "--min-time"}, "a positive number of seconds");
    forwarded.push_back("--benchmark_min_time=" + std::to_string(seconds));
  }
  const auto program = kernels_benchmark_path();
  if (!std::filesystem::exists(program)) {
    throw core::RunError("the kernel benchmark binary is missing: " + program.string() +
                         " (build the target dsbench_kernels_bench)");
  }
  const bool store_results = values.count("json") || values.count("store") || values.count("config");
  const auto report = std::filesystem::temp_directory_path() /
                      ("dsbench_kernels_" + std::to_string(::getpid()) + ".json");
  if (store_results) {
    forwarded.push_back("--benchmark_out=" + report.string());
    forwarded.push_back("--benchmark_out_format=json");
  }
  const int code = run_and_wait(program, forwarded);
  if (code != 0) throw core::RunError(program.string() + " exited with code " + std::to_string(code));
  if (store_results) {
    nlohmann::json parsed;
    try {
      parsed = nlohmann::json::parse(core::read_file(report));
    } catch (const nlohmann::json::exception& e) {
      std::filesystem::remove(report);
      throw core::RunError("cannot read the kernel benchmark's JSON report " + report.string() + ": " + e.what());
    }
    std::filesystem::remove(report);
    const auto results = results_of(parsed, report.string());
    auto store = store::Store::open(store_location(values));
    store.add_benchmark_results(results);
    std::cerr << "stored " << results.size() << " kernel benchmark results in " << store.path().string() << "\n";
  }
  return 0;
}

}  // namespace

DSBENCH_COMMAND("bench kernels", "MMSA/MMCA kernel benchmarks, dense vs grouped (Google Benchmark)",
                run_bench_kernels);

}  // namespace dsbench::cli
