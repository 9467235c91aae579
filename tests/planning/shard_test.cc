#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <set>

#include "core/errors.h"
#include "core/hashing.h"
#include "harness/planning/plan.h"

namespace dsbench::planning {
namespace {

// A plan with `groups` groups of seeded random costs (or all equal when `equal`).
Plan synthetic_plan(int groups, std::uint64_t seed, bool equal = false) {
  std::mt19937_64 random(seed);
  std::uniform_real_distribution<double> cost(10.0, 200.0);
  Plan plan;
  for (int g = 0; g < groups; ++g) {
    PlanGroup group;
    group.system = g % 3 == 0 ? "vanilla" : "dreamstory";
    group.story = "story-" + std::to_string(g);
    group.seed = static_cast<std::uint64_t>(g % 2);
    group.cost = equal ? 1.0 : cost(random);
    // Two items so that "groups stay together" is checked on items too.
    group.items.push_back({ItemKey{group.system, group.story, ItemKind::kPortrait, 0, group.seed}, "A", {}, 1.0});
    group.items.push_back({ItemKey{group.system, group.story, ItemKind::kScene, 0, group.seed}, "scene 0", {0}, 1.0});
    plan.groups.push_back(std::move(group));
  }
  return plan;
}

std::vector<double> shard_loads(const Plan& plan, int count) {
  std::vector<double> loads(static_cast<std::size_t>(count), 0.0);
  for (int k = 0; k < count; ++k) loads[static_cast<std::size_t>(k)] = shard(plan, k, count).total_cost();
  return loads;
}

TEST(Shard, ShardsAreDisjointAndCoverEveryItemOnce) {
  const Plan plan = synthetic_plan(57, 1);
  for (int count = 1; count <= 9; ++count) {
    std::multiset<std::string> seen;
    for (int k = 0; k < count; ++k) {
      for (const auto& group : shard(plan, k, count).groups) {
        for (const auto& item : group.items) seen.insert(item.key.to_string());
      }
    }
    ASSERT_EQ(seen.size(), plan.item_count()) << "N=" << count;
    for (const auto& group : plan.groups) {
      for (const auto& item : group.items) EXPECT_EQ(seen.count(item.key.to_string()), 1u);
    }
  }
}

TEST(Shard, ItemsOfOneGroupStayInOneShard) {
  const Plan plan = synthetic_plan(20, 2);
  for (int k = 0; k < 4; ++k) {
    for (const auto& group : shard(plan, k, 4).groups) {
      for (const auto& item : group.items) EXPECT_EQ(item.key.group(), group.key());
      EXPECT_EQ(group.items.size(), 2u);
    }
  }
}

TEST(Shard, AssignmentDoesNotDependOnGroupOrder) {
  const Plan plan = synthetic_plan(40, 3);
  Plan shuffled = plan;
  std::mt19937 random(5);
  std::shuffle(shuffled.groups.begin(), shuffled.groups.end(), random);
  EXPECT_EQ(assign_shards(plan, 6), assign_shards(shuffled, 6));
  EXPECT_EQ(assign_shards(plan, 6), assign_shards(plan, 6));
}

TEST(Shard, ShardKeepsPlanOrder) {
  const Plan plan = synthetic_plan(30, 4);
  const Plan part = shard(plan, 1, 3);
  std::vector<std::size_t> positions;
  for (const auto& group : part.groups) {
    const auto found = std::find_if(plan.groups.begin(), plan.groups.end(),
                                    [&](const PlanGroup& g) { return g.key() == group.key(); });
    positions.push_back(static_cast<std::size_t>(found - plan.groups.begin()));
  }
  EXPECT_TRUE(std::is_sorted(positions.begin(), positions.end()));
}

TEST(Shard, LoadsAreBalancedWithinOneGroup) {
  // Greedy onto the lightest shard, heaviest first: no shard exceeds the mean by more than
  // the heaviest group (the classic list-scheduling bound).
  for (std::uint64_t seed = 0; seed < 5; ++seed) {
    const Plan plan = synthetic_plan(100, seed);
    double heaviest = 0.0;
    for (const auto& group : plan.groups) heaviest = std::max(heaviest, group.cost);
    for (const int count : {2, 3, 7, 16}) {
      const auto loads = shard_loads(plan, count);
      const double total = std::accumulate(loads.begin(), loads.end(), 0.0);
      EXPECT_NEAR(total, plan.total_cost(), 1e-6);
      const double mean = total / count;
      const auto [low, high] = std::minmax_element(loads.begin(), loads.end());
      EXPECT_LE(*high, mean + heaviest + 1e-9) << "N=" << count;
      EXPECT_LE(*high - *low, heaviest + 1e-9) << "N=" << count;
    }
  }
}

TEST(Shard, EqualCostsGoRoundRobinInStableHashOrder) {
  // An independent statement of the rule: with equal costs the order is the FNV-1a hash
  // of the key, and the lightest-shard rule deals groups out round-robin.
  const Plan plan = synthetic_plan(23, 0, /*equal=*/true);
  std::vector<std::pair<std::uint64_t, std::string>> order;
  for (const auto& group : plan.groups) order.emplace_back(core::stable_hash64(group.key()), group.key());
  std::sort(order.begin(), order.end());
  const auto assignment = assign_shards(plan, 4);
  for (std::size_t i = 0; i < order.size(); ++i) {
    EXPECT_EQ(assignment.at(order[i].second), static_cast<int>(i % 4)) << order[i].second;
  }
}

TEST(Shard, MoreShardsThanGroupsLeavesSomeEmpty) {
  const Plan plan = synthetic_plan(3, 9);
  std::size_t groups = 0;
  for (int k = 0; k < 5; ++k) groups += shard(plan, k, 5).groups.size();
  EXPECT_EQ(groups, 3u);
}

TEST(Shard, InvalidShardIndicesAreRejected) {
  const Plan plan = synthetic_plan(3, 9);
  EXPECT_THROW(shard(plan, 3, 3), core::InputError);
  EXPECT_THROW(shard(plan, -1, 3), core::InputError);
  EXPECT_THROW(shard(plan, 0, 0), core::InputError);
}

TEST(ParseShard, ExplicitKOverN) {
  const auto spec = parse_shard("2/5", {});
  EXPECT_EQ(spec.index, 2);
  EXPECT_EQ(spec.count, 5);
  EXPECT_EQ(spec.to_string(), "2/5");
  EXPECT_EQ(parse_shard(" 0/1 ", {}).count, 1);
}

TEST(ParseShard, SlurmJobArray) {
  const Environment slurm{{"SLURM_ARRAY_TASK_ID", "3"}, {"SLURM_ARRAY_TASK_COUNT", "8"}};
  EXPECT_EQ(parse_shard("auto", slurm).index, 3);
  EXPECT_EQ(parse_shard("auto", slurm).count, 8);
  EXPECT_EQ(parse_shard("auto/8", slurm).index, 3);
  // --array=1-8 numbers tasks from 1.
  const Environment from_one{{"SLURM_ARRAY_TASK_ID", "8"}, {"SLURM_ARRAY_TASK_MIN", "1"}, {"SLURM_ARRAY_TASK_COUNT", "8"}};
  EXPECT_EQ(parse_shard("auto", from_one).index, 7);
}

TEST(ParseShard, KubernetesIndexedJob) {
  const Environment k8s{{"JOB_COMPLETION_INDEX", "4"}};
  const auto spec = parse_shard("auto/6", k8s);
  EXPECT_EQ(spec.index, 4);
  EXPECT_EQ(spec.count, 6);
}

void expect_input_error(const std::string& text, const Environment& environment, const std::string& fragment) {
  try {
    parse_shard(text, environment);
    FAIL() << "expected an InputError for '" << text << "'";
  } catch (const core::InputError& error) {
    EXPECT_NE(std::string(error.what()).find(fragment), std::string::npos) << error.what();
  }
}

TEST(ParseShard, ProblemsNameTheOptionOrVariable) {
  expect_input_error("3", {}, "--shard");
  expect_input_error("a/4", {}, "K is 'a'");
  expect_input_error("1/x", {}, "N is 'x'");
  expect_input_error("4/4", {}, "0 <= K < N");
  expect_input_error("-1/4", {}, "0 <= K < N");
  expect_input_error("0/0", {}, "between 1");
  expect_input_error("auto", {}, "SLURM_ARRAY_TASK_ID");
  expect_input_error("auto/4", {}, "JOB_COMPLETION_INDEX");
  expect_input_error("auto/4", {{"JOB_COMPLETION_INDEX", "x"}}, "$JOB_COMPLETION_INDEX");
  expect_input_error("auto/4", {{"JOB_COMPLETION_INDEX", "9"}}, "0 <= K < N");
  expect_input_error("auto", {{"SLURM_ARRAY_TASK_ID", "1"}}, "SLURM_ARRAY_TASK_COUNT");
}

}  // namespace
}  // namespace dsbench::planning
