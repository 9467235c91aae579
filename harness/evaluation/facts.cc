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

}  // namespace

RunFacts gather_facts(const store::Store& store, store::RunId run, const fs::path& dataset_root) {
  RunFacts facts;
  for (const auto& item : store.list_items(run, "done")) {
    add_item_facts(item, facts.stories[{item.key.system, item.key.story, item.key.seed}]);
  }
  const auto dataset = load_dataset_of(store, run, dataset_root);
  if (!dataset) return facts;
  std::map<std::string, const datasets::Story*> by_id;
  for (const auto& story : dataset->stories) {
    by_id[story.id] = &story;
    facts.categories[story.id] = story.category;
  }
  for (auto& [key, story_facts] : facts.stories) {
    const auto found = by_id.find(std::get<1>(key));
    if (found != by_id.end()) add_dataset_facts(*found->second, story_facts);
  }
  return facts;
}

}  // namespace dsbench::evaluation
