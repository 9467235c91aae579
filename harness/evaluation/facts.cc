#include "harness/evaluation/facts.h"

#include <optional>

#include "datasets/dataset.h"

namespace dsbench::evaluation {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string string_at(const json& object, const char* key) {
  const auto found = object.find(key);
  return found != object.end() && found->is_string() ? found->get<std::string>() : std::string();
}

void add_item_facts(const store::ItemRow& item, StoryFacts& facts) {
  const auto plan = item.info.find("plan");
  const bool has_plan = plan != item.info.end() && plan->is_object();
  if (item.key.kind == "portrait") {
    if (has_plan && !string_at(*plan, "keyword").empty()) facts.keywords[item.key.index] = string_at(*plan, "keyword");
    return;
  }
  if (item.key.kind != "scene") return;
  auto& scene = facts.scenes[item.key.index];
  scene.generation_prompt = string_at(item.info, "prompt");
  if (!has_plan) return;
  scene.scene_prompt = string_at(*plan, "prompt");
  const auto subjects = plan->find("subjects");
  if (subjects == plan->end() || !subjects->is_array()) return;
  scene.subjects_known = true;
  for (const auto& subject : *subjects) {
    if (!subject.is_object() || !subject.contains("index") || !subject["index"].is_number_integer()) continue;
    const int index = subject["index"].get<int>();
    scene.subjects.push_back(index);
    if (!string_at(subject, "keyword").empty()) facts.keywords[index] = string_at(subject, "keyword");
  }
}

std::optional<datasets::Dataset> load_dataset_of(const store::Store& store, store::RunId run,
                                                 const fs::path& dataset_root) {
  if (!dataset_root.empty()) {  // the user named it: say what is wrong with it
    if (!fs::exists(dataset_root)) {
      throw core::InputError(core::Location{dataset_root.string(), 0, "--dataset"}, "no such dataset folder");
    }
    return datasets::load_dataset(dataset_root);
  }
  try {
    const auto config = json::parse(store.get_run(run).config_json);
    const auto root = config.at("dataset").value("root", std::string());
    const auto format = config.at("dataset").value("format", std::string("auto"));
    if (root.empty() || !fs::exists(root) || format == "generated") return std::nullopt;
    return format == "auto" ? datasets::load_dataset(root) : datasets::load_dataset(root, datasets::parse_layout(format));
  } catch (const std::exception&) {
    return std::nullopt;  // the run's dataset moved or changed: facts from items only
  }
}

void add_dataset_facts(const datasets::Story& story, StoryFacts& facts) {
  for (std::size_t s = 0; s < story.subjects.size(); ++s) {
    facts.keywords.try_emplace(static_cast<int>(s), story.subjects[s].kind);
  }
  for (std::size_t n = 0; n < story.scenes.size(); ++n) {
    auto& scene = facts.scenes[static_cast<int>(n)];
    if (scene.scene_prompt.empty()) scene.scene_prompt = story.scenes[n].prompt;
    if (!scene.subjects_known) {
      scene.subjects = story.scenes[n].subjects;
      scene.subjects_known = true;
    }
  }
}

// One official test case (the release's synthetic files are one story per file, a case per
// scene, named like "07_boy_cat"): the case is a story of its own with one scene whose
// subjects are 0..S-1 in the scene's order, as the official output layout numbers them.
void add_case_facts(const datasets::Story& story, const datasets::Scene& scene, StoryFacts& facts) {
  auto& scene_facts = facts.scenes[0];
  if (scene_facts.scene_prompt.empty()) scene_facts.scene_prompt = scene.prompt;
  const bool fill_subjects = !scene_facts.subjects_known;
  for (std::size_t k = 0; k < scene.subjects.size(); ++k) {
    const auto subject = static_cast<std::size_t>(scene.subjects[k]);
    if (subject < story.subjects.size()) facts.keywords.try_emplace(static_cast<int>(k), story.subjects[subject].kind);
    if (fill_subjects) scene_facts.subjects.push_back(static_cast<int>(k));
  }
  scene_facts.subjects_known = true;
}

}  // namespace

RunFacts gather_facts(const store::Store& store, store::RunId run, const fs::path& dataset_root) {
  RunFacts facts;
  for (const auto& item : store.list_items(run, "done")) {
    add_item_facts(item, facts.stories[{item.key.system, item.key.story, item.key.seed}]);
  }
  const auto dataset = load_dataset_of(store, run, dataset_root);
  if (!dataset) return facts;
  std::map<std::string, const datasets::Story*> by_id;
  std::map<std::string, std::pair<const datasets::Story*, const datasets::Scene*>> by_case;
  for (const auto& story : dataset->stories) {
    by_id[story.id] = &story;
    facts.categories[story.id] = story.category;
    for (const auto& scene : story.scenes) {
      if (!scene.case_name.empty()) by_case[scene.case_name] = {&story, &scene};
    }
  }
  for (auto& [key, story_facts] : facts.stories) {
    const std::string& id = std::get<1>(key);
    if (const auto found = by_id.find(id); found != by_id.end()) {
      add_dataset_facts(*found->second, story_facts);
    } else if (const auto found_case = by_case.find(id); found_case != by_case.end()) {
      add_case_facts(*found_case->second.first, *found_case->second.second, story_facts);
      facts.categories.try_emplace(id, found_case->second.first->category);
    }
  }
  return facts;
}

}  // namespace dsbench::evaluation
