// dsbench bench kernels: runs the MMSA/MMCA kernel benchmarks (build/dsbench_kernels_bench,
// found next to this executable) and prints their table, or Google Benchmark's JSON with
// --json. The results are not stored in the run store yet: redirect the JSON to keep it.
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "core/errors.h"
#include "harness/cli/command.h"

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

int run_bench_kernels(const Arguments& args) {
  po::options_description options("options");
  options.add_options()
      ("json", "print Google Benchmark JSON instead of the table")
      ("filter", po::value<std::string>(), "regex of benchmarks to run, e.g. 'mmsa_.*/h:64/'")
      ("min-time", po::value<double>(), "minimum seconds per benchmark (short runs: 0.01)");
  po::variables_map values;
  if (!parse_command_line(args, "bench kernels [--json] [--filter REGEX] [--min-time SECONDS]", options, {},
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
  const int code = run_and_wait(program, forwarded);
  if (code != 0) throw core::RunError(program.string() + " exited with code " + std::to_string(code));
  return 0;
}

}  // namespace

DSBENCH_COMMAND("bench kernels", "MMSA/MMCA kernel benchmarks, dense vs grouped (Google Benchmark)",
                run_bench_kernels);

}  // namespace dsbench::cli
