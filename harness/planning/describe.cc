// The dry-run description of a plan: enough to see what a run will cost before it runs.
#include <iomanip>
#include <set>
#include <sstream>

#include "harness/planning/plan.h"

namespace dsbench::planning {
namespace {

std::string seeds_text(const std::vector<std::uint64_t>& seeds) {
  std::string text;
  for (const auto seed : seeds) text += (text.empty() ? "" : ", ") + std::to_string(seed);
  return text;
}

std::string plural(std::size_t count, const std::string& one, const std::string& many) {
  return std::to_string(count) + " " + (count == 1 ? one : many);
}

void system_table(std::ostringstream& out, const harness::RunConfig& config, const Plan& plan) {
  std::size_t name_width = 6;
  for (const auto& system : config.systems) name_width = std::max(name_width, system.name.size());
  out << "  " << std::left << std::setw(static_cast<int>(name_width)) << "system" << std::right << std::setw(11)
      << "portraits" << std::setw(9) << "scenes" << std::setw(9) << "items" << std::setw(14) << "est. cost" << "\n";
  std::size_t portraits = 0, scenes = 0;
  for (const auto& system : config.systems) {
    const std::size_t p = plan.item_count(system.name, ItemKind::kPortrait);
    const std::size_t s = plan.item_count(system.name, ItemKind::kScene);
    double cost = 0.0;
    for (const auto& group : plan.groups) {
      if (group.system == system.name) cost += group.cost;
    }
    portraits += p;
    scenes += s;
    out << "  " << std::left << std::setw(static_cast<int>(name_width)) << system.name << std::right
        << std::setw(11) << p << std::setw(9) << s << std::setw(9) << p + s << std::setw(14) << std::fixed
        << std::setprecision(1) << cost << "\n";
  }
  out << "  " << std::left << std::setw(static_cast<int>(name_width)) << "total" << std::right << std::setw(11)
      << portraits << std::setw(9) << scenes << std::setw(9) << portraits + scenes << std::setw(14) << std::fixed
      << std::setprecision(1) << plan.total_cost() << "\n";
}

}  // namespace

std::string describe_plan(const harness::RunConfig& config, const datasets::Dataset& selected, const Plan& plan,
                          const std::string& shard_note, std::size_t max_story_lines) {
  std::set<std::string> planned_stories;
  for (const auto& group : plan.groups) planned_stories.insert(group.story);
  std::size_t scenes = 0, subjects = 0, unannotated = 0;
  for (const auto& story : selected.stories) {
    if (!planned_stories.count(story.id)) continue;
    scenes += story.scenes.size();
    subjects += story.subjects.size();
    if (!story.annotated) ++unannotated;
  }

  std::ostringstream out;
  out << "plan for run '" << config.name << "' (" << config.source << ")\n";
  out << "  config hash " << config.hash << "\n";
  if (!shard_note.empty()) out << "  shard " << shard_note << ": " << plural(plan.groups.size(), "group", "groups") << " of the run\n";
  out << "  " << plural(config.systems.size(), "system", "systems") << " x " << plural(planned_stories.size(), "story", "stories")
      << " (" << plural(scenes, "scene", "scenes") << ", " << plural(subjects, "subject", "subjects") << ") x "
      << plural(config.sampler.seeds.size(), "seed", "seeds") << " [" << seeds_text(config.sampler.seeds) << "]\n";
  for (const auto& system : config.systems) {
    out << "  system " << system.name << ": type " << system.type << ", director " << system.director;
    if (!system.params.empty()) out << ", params " << system.params.dump();
    out << "\n";
  }
  out << "  model " << config.model.profile << ", " << config.sampler.steps << " steps, " << config.sampler.width
      << "x" << config.sampler.height << ", guidance " << config.sampler.guidance << "\n";
  out << "  store " << config.store.url << ", images under " << config.output_dir << "\n\n";
  system_table(out, config, plan);
  if (unannotated > 0) {
    out << "  + " << plural(unannotated, "story has", "stories have")
        << " no annotations: their items are counted after the director plans them (cost estimated)\n";
  }

  out << "\n  stories (subjects, scenes):\n";
  std::size_t shown = 0;
  for (const auto& story : selected.stories) {
    if (!planned_stories.count(story.id)) continue;
    if (shown++ == max_story_lines) {
      out << "    ... " << planned_stories.size() - max_story_lines << " more\n";
      break;
    }
    out << "    " << story.id << ": ";
    if (story.annotated) {
      out << story.subjects.size() << ", " << story.scenes.size() << "\n";
    } else {
      out << "unannotated (director decides)\n";
    }
  }
  out << "\n  " << plural(plan.item_count(), "item", "items") << " in " << plural(plan.groups.size(), "group", "groups")
      << "\n";
  return out.str();
}

}  // namespace dsbench::planning
