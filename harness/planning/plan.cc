#include "harness/planning/plan.h"

#include <algorithm>
#include <numeric>

#include "core/errors.h"

namespace dsbench::planning {
namespace {

// An unannotated story's subjects and scenes are unknown until the director reads it;
// sharding still has to weigh it, so it counts as a typical DS-500 real story.
constexpr std::size_t kEstimatedSubjects = 3;
constexpr std::size_t kEstimatedScenes = 8;

std::string seed_part(std::uint64_t seed) { return "seed-" + std::to_string(seed); }

std::string group_key(const std::string& system, const std::string& story, std::uint64_t seed) {
  return system + "/" + story + "/" + seed_part(seed);
}

PlanItem portrait_item(const harness::RunConfig& config, const PlanGroup& group, int subject,
                       const std::string& name) {
  PlanItem item;
  item.key = ItemKey{group.system, group.story, ItemKind::kPortrait, subject, group.seed};
  item.label = name;
  item.cost = estimate_portrait_cost(config, group.system_type);
  return item;
}

PlanItem scene_item(const harness::RunConfig& config, const PlanGroup& group, int scene,
                    const std::vector<int>& subjects) {
  PlanItem item;
  item.key = ItemKey{group.system, group.story, ItemKind::kScene, scene, group.seed};
  item.label = "scene " + std::to_string(scene);
  item.subjects = subjects;
  item.cost = estimate_scene_cost(config, group.system_type, subjects.size());
  return item;
}

double items_cost(const std::vector<PlanItem>& items) {
  return std::accumulate(items.begin(), items.end(), 0.0,
                         [](double sum, const PlanItem& item) { return sum + item.cost; });
}

void fill_from_annotations(const harness::RunConfig& config, const datasets::Story& story, PlanGroup& group) {
  for (std::size_t s = 0; s < story.subjects.size(); ++s) {
    group.items.push_back(portrait_item(config, group, static_cast<int>(s), story.subjects[s].name));
  }
  for (std::size_t s = 0; s < story.scenes.size(); ++s) {
    group.items.push_back(scene_item(config, group, static_cast<int>(s), story.scenes[s].subjects));
  }
  group.cost = items_cost(group.items);
}

double estimated_unknown_cost(const harness::RunConfig& config, const std::string& system_type) {
  const std::size_t scenes = config.dataset.max_scenes > 0
                                 ? std::min<std::size_t>(kEstimatedScenes, config.dataset.max_scenes)
                                 : kEstimatedScenes;
  return static_cast<double>(kEstimatedSubjects) * estimate_portrait_cost(config, system_type) +
         static_cast<double>(scenes) * estimate_scene_cost(config, system_type, kEstimatedSubjects);
}

}  // namespace

std::string kind_name(ItemKind kind) { return kind == ItemKind::kPortrait ? "portrait" : "scene"; }

ItemKind parse_kind(const std::string& name) {
  if (name == "portrait") return ItemKind::kPortrait;
  if (name == "scene") return ItemKind::kScene;
  throw core::RunError("unknown work item kind '" + name + "' (expected portrait or scene)");
}

std::string ItemKey::group() const { return group_key(system, story, seed); }

std::string ItemKey::to_string() const { return group() + "/" + kind_name(kind) + "-" + std::to_string(index); }

std::string PlanGroup::key() const { return group_key(system, story, seed); }

std::size_t Plan::item_count() const {
  std::size_t count = 0;
  for (const auto& group : groups) count += group.items.size();
  return count;
}

std::size_t Plan::item_count(const std::string& system, ItemKind kind) const {
  std::size_t count = 0;
  for (const auto& group : groups) {
    if (group.system != system) continue;
    count += std::count_if(group.items.begin(), group.items.end(),
                           [&](const PlanItem& item) { return item.key.kind == kind; });
  }
  return count;
}

double Plan::total_cost() const {
  double cost = 0.0;
  for (const auto& group : groups) cost += group.cost;
  return cost;
}

bool Plan::all_items_known() const {
  return std::all_of(groups.begin(), groups.end(), [](const PlanGroup& group) { return group.items_known; });
}

datasets::Dataset load_selected_dataset(const harness::RunConfig& config) {
  datasets::Dataset dataset;
  if (config.dataset.format == "generated") {
    const core::Location where{config.source, 0, "dataset.generator_params"};
    dataset = datasets::generate_scaling_dataset(datasets::parse_scaling_options(config.dataset.generator_params, where));
  } else if (config.dataset.format == "auto") {
    dataset = datasets::load_dataset(config.dataset.root);
  } else {
    dataset = datasets::load_dataset(config.dataset.root, datasets::parse_layout(config.dataset.format));
  }
  datasets::Selection selection;
  selection.story_ids = config.dataset.stories;
  selection.categories = config.dataset.categories;
  selection.limit = config.dataset.limit;
  selection.max_scenes = config.dataset.max_scenes;
  return datasets::select(dataset, selection);
}

double system_cost_factor(const std::string& system_type) {
  // Extra passes per image relative to plain sampling: dreamstory rehearses the scene and
  // extracts masks; consistory and storydiffusion share attention across a batch.
  if (system_type.starts_with("dreamstory")) return 2.0;
  if (system_type == "consistory") return 1.6;
  if (system_type == "storydiffusion") return 1.3;
  return 1.0;
}

double estimate_portrait_cost(const harness::RunConfig& config, const std::string& system_type) {
  const double pixels = static_cast<double>(config.sampler.width) * config.sampler.height / (512.0 * 512.0);
  // Portraits are plain single-subject samples in every system.
  (void)system_type;
  return static_cast<double>(config.sampler.steps) * pixels;
}

double estimate_scene_cost(const harness::RunConfig& config, const std::string& system_type, std::size_t subjects) {
  const double per_subject = 1.0 + 0.25 * static_cast<double>(subjects);
  return estimate_portrait_cost(config, system_type) * system_cost_factor(system_type) * per_subject;
}

Plan make_plan(const harness::RunConfig& config, const datasets::Dataset& selected) {
  for (std::size_t i = 0; i < config.sampler.seeds.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (config.sampler.seeds[i] == config.sampler.seeds[j]) {
        throw core::InputError(core::Location{config.source, 0, "sampler.seeds[" + std::to_string(i) + "]"},
                               "seed " + std::to_string(config.sampler.seeds[i]) + " is listed twice");
      }
    }
  }
  Plan plan;
  plan.config_hash = config.hash;
  plan.seeds = config.sampler.seeds;
  for (const auto& system : config.systems) plan.systems.push_back(system.name);
  for (const auto& story : selected.stories) plan.stories.push_back(story.id);
  for (const auto& system : config.systems) {
    for (const auto& story : selected.stories) {
      for (const std::uint64_t seed : config.sampler.seeds) {
        PlanGroup group;
        group.system = system.name;
        group.system_type = system.type;
        group.director = system.director;
        group.story = story.id;
        group.seed = seed;
        group.items_known = story.annotated;
        if (story.annotated) {
          fill_from_annotations(config, story, group);
        } else {
          group.cost = estimated_unknown_cost(config, system.type);
        }
        plan.groups.push_back(std::move(group));
      }
    }
  }
  return plan;
}

void expand_group(const harness::RunConfig& config, const director::StoryPlan& story_plan, PlanGroup& group) {
  if (story_plan.story_id != group.story) {
    throw core::RunError("director plan for story '" + story_plan.story_id + "' given to group " + group.key());
  }
  group.items.clear();
  for (std::size_t s = 0; s < story_plan.subjects.size(); ++s) {
    group.items.push_back(portrait_item(config, group, static_cast<int>(s), story_plan.subjects[s].name));
  }
  std::size_t scenes = story_plan.scenes.size();
  if (config.dataset.max_scenes > 0) scenes = std::min<std::size_t>(scenes, config.dataset.max_scenes);
  for (std::size_t s = 0; s < scenes; ++s) {
    group.items.push_back(scene_item(config, group, static_cast<int>(s), story_plan.scenes[s].subjects));
  }
  group.items_known = true;
  group.cost = items_cost(group.items);
}

}  // namespace dsbench::planning
