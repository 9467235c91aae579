// Sharding: N processes on N machines (Slurm job array, Kubernetes Indexed Job) each
// take a disjoint part of the run and together cover it exactly once. Every process
// computes the same partition from the same config, with no coordination.
#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <tuple>

#include "core/errors.h"
#include "core/hashing.h"
#include "core/text.h"
#include "harness/planning/plan.h"

namespace dsbench::planning {
namespace {

const core::Location kShardOption{"", 0, "--shard"};

std::optional<long long> parse_integer(const std::string& text) {
  const std::string trimmed = core::trim(text);
  long long value = 0;
  const auto [end, error] = std::from_chars(trimmed.data(), trimmed.data() + trimmed.size(), value);
  if (trimmed.empty() || error != std::errc{} || end != trimmed.data() + trimmed.size()) return std::nullopt;
  return value;
}

long long integer_option(const std::string& text, const std::string& what) {
  const auto value = parse_integer(text);
  if (!value) {
    throw core::InputError(kShardOption, "expected K/N with integers (e.g. 0/4, auto or auto/4); " + what + " is '" +
                                             text + "'");
  }
  return *value;
}

std::optional<std::string> lookup(const Environment& environment, const std::string& name) {
  const auto found = environment.find(name);
  if (found == environment.end() || core::trim(found->second).empty()) return std::nullopt;
  return found->second;
}

long long integer_variable(const Environment& environment, const std::string& name) {
  const auto value = lookup(environment, name);
  if (!value) throw core::InputError(kShardOption, "$" + name + " is not set");
  const auto number = parse_integer(*value);
  if (!number) throw core::InputError(core::Location{"", 0, "$" + name}, "expected an integer, got '" + *value + "'");
  return *number;
}

// Slurm arrays may start anywhere (--array=1-8); the shard index is the offset from
// the first task.
long long slurm_index(const Environment& environment) {
  const long long id = integer_variable(environment, "SLURM_ARRAY_TASK_ID");
  const long long first = lookup(environment, "SLURM_ARRAY_TASK_MIN") ? integer_variable(environment, "SLURM_ARRAY_TASK_MIN") : 0;
  return id - first;
}

long long environment_index(const Environment& environment) {
  if (lookup(environment, "SLURM_ARRAY_TASK_ID")) return slurm_index(environment);
  if (lookup(environment, "JOB_COMPLETION_INDEX")) return integer_variable(environment, "JOB_COMPLETION_INDEX");
  throw core::InputError(kShardOption,
                         "'auto' needs $SLURM_ARRAY_TASK_ID (Slurm job array) or $JOB_COMPLETION_INDEX "
                         "(Kubernetes Indexed Job); give K/N explicitly otherwise");
}

ShardSpec checked(long long index, long long count) {
  if (count < 1 || count > 1'000'000) {
    throw core::InputError(kShardOption, "shard count N must be between 1 and 1000000, got " + std::to_string(count));
  }
  if (index < 0 || index >= count) {
    throw core::InputError(kShardOption, "shard index K must satisfy 0 <= K < N (0-based), got " +
                                             std::to_string(index) + "/" + std::to_string(count));
  }
  return ShardSpec{static_cast<int>(index), static_cast<int>(count)};
}

Environment process_environment() {
  Environment environment;
  for (const char* name : {"SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_MIN", "SLURM_ARRAY_TASK_COUNT",
                           "JOB_COMPLETION_INDEX"}) {
    if (const char* value = std::getenv(name)) environment[name] = value;
  }
  return environment;
}

}  // namespace

std::string ShardSpec::to_string() const { return std::to_string(index) + "/" + std::to_string(count); }

ShardSpec parse_shard(const std::string& text, const Environment& environment) {
  const std::string spec = core::trim(text);
  if (spec == "auto") {
    if (!lookup(environment, "SLURM_ARRAY_TASK_ID")) {
      throw core::InputError(kShardOption,
                             "'auto' without /N reads $SLURM_ARRAY_TASK_ID and $SLURM_ARRAY_TASK_COUNT, which are not "
                             "set; use auto/N with $JOB_COMPLETION_INDEX, or K/N");
    }
    return checked(slurm_index(environment), integer_variable(environment, "SLURM_ARRAY_TASK_COUNT"));
  }
  const auto slash = spec.find('/');
  if (slash == std::string::npos) {
    throw core::InputError(kShardOption, "expected K/N (e.g. 0/4), auto or auto/N; got '" + text + "'");
  }
  const std::string left = spec.substr(0, slash);
  const long long count = integer_option(spec.substr(slash + 1), "N");
  const long long index = core::trim(left) == "auto" ? environment_index(environment) : integer_option(left, "K");
  return checked(index, count);
}

ShardSpec parse_shard(const std::string& text) { return parse_shard(text, process_environment()); }

std::map<std::string, int> assign_shards(const Plan& plan, int count) {
  if (count < 1) throw core::RunError("shard count must be at least 1");
  struct Weighted {
    double cost;
    std::uint64_t hash;
    std::string key;
  };
  std::vector<Weighted> groups;
  groups.reserve(plan.groups.size());
  for (const auto& group : plan.groups) {
    const std::string key = group.key();
    groups.push_back({group.cost, core::stable_hash64(key), key});
  }
  // Longest-processing-time-first: heavy groups first, each onto the lightest shard.
  std::sort(groups.begin(), groups.end(), [](const Weighted& a, const Weighted& b) {
    return std::tie(b.cost, a.hash, a.key) < std::tie(a.cost, b.hash, b.key);
  });
  std::vector<double> load(static_cast<std::size_t>(count), 0.0);
  std::map<std::string, int> assignment;
  for (const auto& group : groups) {
    const auto lightest = std::min_element(load.begin(), load.end());
    *lightest += group.cost;
    assignment[group.key] = static_cast<int>(lightest - load.begin());
  }
  return assignment;
}

Plan shard(const Plan& plan, int index, int count) {
  checked(index, count);
  const auto assignment = assign_shards(plan, count);
  Plan part = plan;
  part.groups.clear();
  for (const auto& group : plan.groups) {
    if (assignment.at(group.key()) == index) part.groups.push_back(group);
  }
  return part;
}

}  // namespace dsbench::planning
