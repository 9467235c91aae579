// The planner: expands a run config and its selected stories into work items, one per
// image a system must draw. For each system x story x seed there is one group (the
// unit that sharding keeps together, because a story's scenes need its portraits):
// one portrait item per subject (every system draws portraits, so metrics can compare
// all of them against portraits) and one scene item per scene. No torch, no store.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "datasets/dataset.h"
#include "harness/config/config.h"
#include "pipeline/director/story_plan.h"

namespace dsbench::planning {

enum class ItemKind { kPortrait, kScene };

std::string kind_name(ItemKind kind);             // "portrait" | "scene"
ItemKind parse_kind(const std::string& name);     // RunError for anything else

// What identifies an item in every store, shard and resume: never depends on the order
// in which items are planned or on the machine.
struct ItemKey {
  std::string system;  // SystemConfig::name
  std::string story;   // Story::id
  ItemKind kind = ItemKind::kScene;
  int index = 0;       // subject index (portrait) or scene index (scene)
  std::uint64_t seed = 0;

  std::string group() const;      // "system/story/seed-S"
  std::string to_string() const;  // "system/story/seed-S/portrait-2"
  auto operator<=>(const ItemKey&) const = default;
};

struct PlanItem {
  ItemKey key;
  std::string label;             // subject name (portrait) or "scene N"
  std::vector<int> subjects;     // scene: subject indices of the scene (their portraits are inputs)
  double cost = 0.0;             // relative estimate (see estimate_*_cost)
};

// One system x story x seed.
struct PlanGroup {
  std::string system;       // SystemConfig::name
  std::string system_type;  // registry type
  std::string director;     // director backend that plans the story for this system
  std::string story;
  std::uint64_t seed = 0;
  // false when the story is not annotated (Real-Stories-100) and only the director can
  // say which subjects and scenes it has: `items` is empty and `cost` an estimate until
  // expand_group() fills them from the director's plan.
  bool items_known = true;
  double cost = 0.0;
  std::vector<PlanItem> items;  // portraits (subject order), then scenes (scene order)

  std::string key() const;  // "system/story/seed-S"
};

struct Plan {
  std::string config_hash;
  std::vector<std::string> systems;       // names, config order
  std::vector<std::string> stories;       // ids, dataset order
  std::vector<std::uint64_t> seeds;       // config order
  std::vector<PlanGroup> groups;          // system, story, seed order

  std::size_t item_count() const;
  std::size_t item_count(const std::string& system, ItemKind kind) const;
  double total_cost() const;
  bool all_items_known() const;
};

// The config's dataset, loaded (or generated) and narrowed by dataset.stories,
// categories, limit and max_scenes. InputError naming the config when it does not exist
// or a selected id is unknown.
datasets::Dataset load_selected_dataset(const harness::RunConfig& config);

// Relative cost estimates, in "512x512 denoising steps": what shard balancing and ETAs
// compare. A scene costs more with every subject (more attention, more masks) and for
// systems that run extra passes (dreamstory's rehearsal and mask extraction).
double system_cost_factor(const std::string& system_type);
double estimate_portrait_cost(const harness::RunConfig& config, const std::string& system_type);
double estimate_scene_cost(const harness::RunConfig& config, const std::string& system_type,
                           std::size_t subjects);

// Every group of the run, items taken from the stories' own annotations. Unannotated
// stories get items_known = false and an estimated cost.
Plan make_plan(const harness::RunConfig& config, const datasets::Dataset& selected);

// The items of `group` as the director planned its story (scenes cut to
// dataset.max_scenes when set). Replaces group.items and group.cost; sets items_known.
void expand_group(const harness::RunConfig& config, const director::StoryPlan& story_plan, PlanGroup& group);

// The plan as `dsbench run --dry-run` prints it: systems x stories x scenes x seeds, item
// counts per system and kind, totals, and one line per story (the first `max_story_lines`).
// `shard_note` ("K/N") says which part of the run the plan is, when sharded.
std::string describe_plan(const harness::RunConfig& config, const datasets::Dataset& selected, const Plan& plan,
                          const std::string& shard_note = "", std::size_t max_story_lines = 30);

// --shard K/N: this process covers shard `index` (0-based) of `count`.
struct ShardSpec {
  int index = 0;
  int count = 1;
  std::string to_string() const;  // "K/N"
};

// Parses "K/N" (0 <= K < N), "auto" (Slurm: $SLURM_ARRAY_TASK_ID - $SLURM_ARRAY_TASK_MIN
// of $SLURM_ARRAY_TASK_COUNT) or "auto/N" (K from $SLURM_ARRAY_TASK_ID or Kubernetes'
// $JOB_COMPLETION_INDEX). `environment` looks variables up (tests pass a map); InputError
// naming the option or variable otherwise.
using Environment = std::map<std::string, std::string>;
ShardSpec parse_shard(const std::string& text, const Environment& environment);
ShardSpec parse_shard(const std::string& text);  // reads the process environment

// Which shard each group belongs to, by group key: a deterministic partition balanced
// by cost. Groups are ordered by decreasing cost (ties by the stable hash of the key,
// then the key) and each goes to the currently lightest shard (ties: lowest index).
// Independent of the order of plan.groups; every group lands in exactly one shard.
std::map<std::string, int> assign_shards(const Plan& plan, int count);

// The groups of shard `index` of `count`, in plan order.
Plan shard(const Plan& plan, int index, int count);

}  // namespace dsbench::planning
