#include "datasets/dataset.h"

#include <algorithm>
#include <set>
#include <unordered_map>

#include "core/text.h"
#include "datasets/reading.h"

namespace dsbench::datasets {
namespace {

namespace fs = std::filesystem;

// "/a/b/" -> "/a/b" so folder names compare as the user sees them.
fs::path normalized(const fs::path& root) {
  fs::path path = root.lexically_normal();
  if (path.has_parent_path() && path.filename().empty()) path = path.parent_path();
  return path;
}

std::optional<Layout> find_layout(const fs::path& root) {
  if (fs::is_regular_file(root)) {
    if (root.extension() == ".jsonl") return Layout::kJsonl;
    return std::nullopt;
  }
  if (!fs::is_directory(root)) return std::nullopt;
  if (fs::is_regular_file(root / "stories.jsonl")) return Layout::kJsonl;
  if (fs::is_directory(root / "Synthetic-Cases-400") || fs::is_directory(root / "Real-Stories-100") ||
      root.filename() == "Real-Stories-100" || detail::holds_synthetic_files(root)) {
    return Layout::kOfficialRelease;
  }
  // A checkout of the DreamStory repository: the release sits in DS-500/.
  if (fs::is_directory(root / "DS-500")) return Layout::kOfficialRelease;
  if (!detail::case_json_files(root).empty()) return Layout::kOfficialCaseJson;
  return std::nullopt;
}

detail::ReadResult read(const fs::path& given_root, Layout layout, detail::Problems& problems) {
  const fs::path root = normalized(given_root);
  detail::ReadResult result;
  result.dataset.root = root;
  result.dataset.name = root.filename().string();
  if (!fs::exists(root)) {
    problems.add(core::Location{root.string(), 0, ""}, "does not exist; expected a dataset folder");
    return result;
  }
  try {
    switch (layout) {
      case Layout::kOfficialRelease: {
        const bool nested = !fs::is_directory(root / "Synthetic-Cases-400") &&
                            !fs::is_directory(root / "Real-Stories-100") &&
                            fs::is_directory(root / "DS-500");
        detail::read_official_release(nested ? root / "DS-500" : root, result, problems);
        break;
      }
      case Layout::kJsonl: {
        const fs::path file = fs::is_regular_file(root) ? root : root / "stories.jsonl";
        if (fs::is_regular_file(root)) result.dataset.name = root.parent_path().filename().string();
        if (!fs::is_regular_file(file)) {
          problems.add(core::Location{file.string(), 0, ""}, "missing; expected stories.jsonl");
          break;
        }
        detail::read_jsonl(file, result, problems);
        break;
      }
      case Layout::kOfficialCaseJson:
        if (!fs::is_directory(root)) {
          problems.add(core::Location{root.string(), 0, ""},
                       "expected a folder of official per-case JSON files");
          break;
        }
        detail::read_case_json_folder(root, result, problems);
        break;
    }
  } catch (const fs::filesystem_error& error) {
    problems.add(core::Location{error.path1().string(), 0, ""},
                 std::string("cannot read: ") + error.code().message());
  }
  detail::check_dataset(result, root.string(), problems);
  return result;
}

Layout layout_or_throw(const fs::path& root) {
  if (!fs::exists(root)) {
    throw core::InputError(core::Location{root.string(), 0, ""},
                           "does not exist; expected a dataset folder");
  }
  if (const auto layout = find_layout(normalized(root))) return *layout;
  throw core::InputError(core::Location{root.string(), 0, ""},
                         "not a dataset; expected stories.jsonl, a DS-500 release "
                         "(Synthetic-Cases-400/, Real-Stories-100/) or official per-case *.json files");
}

}  // namespace

namespace detail {

void check_dataset(const ReadResult& result, const std::string& root_label, Problems& problems) {
  const auto& stories = result.dataset.stories;
  if (stories.empty() && problems.size() == 0) {
    problems.add(core::Location{root_label, 0, ""}, "empty dataset; expected at least one story");
  }
  std::unordered_map<std::string, std::size_t> first_seen;
  for (std::size_t i = 0; i < stories.size(); ++i) {
    const auto [found, inserted] = first_seen.emplace(stories[i].id, i);
    if (inserted) continue;
    const auto& first = result.story_origins[found->second];
    auto where = result.story_origins[i];
    where.field = "id";
    problems.add(where, "duplicate story id '" + stories[i].id + "' (first at " + first.file +
                            (first.line > 0 ? ":" + std::to_string(first.line) : "") +
                            "); expected unique ids");
  }
}

}  // namespace detail

std::string Problem::to_string() const {
  const std::string place = where.to_string();
  return place.empty() ? message : place + ": " + message;
}

Layout detect_layout(const fs::path& root) { return layout_or_throw(root); }

Layout parse_layout(const std::string& name) {
  if (name == "ds500" || name == "official") return Layout::kOfficialRelease;
  if (name == "jsonl" || name == "sample") return Layout::kJsonl;
  if (name == "official-json") return Layout::kOfficialCaseJson;
  const std::vector<std::string> known = {"ds500", "official", "jsonl", "sample", "official-json"};
  throw core::InputError(core::Location{"", 0, "dataset.format"},
                         "unknown dataset format '" + name + "'" + core::did_you_mean(name, known) +
                             "; expected one of: " + core::join(known, ", "));
}

Dataset load_dataset(const fs::path& root) { return load_dataset(root, layout_or_throw(root)); }

Dataset load_dataset(const fs::path& root, Layout layout) {
  detail::Problems problems;
  auto result = read(root, layout, problems);
  if (problems.size() > 0) {
    const Problem& first = problems.list().front();
    std::string message = first.message;
    if (problems.size() > 1) {
      const std::size_t more = problems.size() - 1;
      message += " (and " + std::to_string(more) + (more == 1 ? " more problem" : " more problems") +
                 "; `dsbench validate --dataset " + root.string() + "` lists them all)";
    }
    throw core::InputError(first.where, message);
  }
  return std::move(result.dataset);
}

std::vector<Problem> validate_dataset(const fs::path& root) {
  if (!fs::exists(root) || !find_layout(normalized(root))) {
    try {
      layout_or_throw(root);
    } catch (const core::InputError& error) {
      std::string message = error.what();
      const std::string prefix = error.where().to_string() + ": ";
      if (message.starts_with(prefix)) message = message.substr(prefix.size());
      return {Problem{error.where(), message}};
    }
  }
  return validate_dataset(root, *find_layout(normalized(root)));
}

std::vector<Problem> validate_dataset(const fs::path& root, Layout layout) {
  detail::Problems problems;
  read(root, layout, problems);
  return problems.take();
}

Dataset select(const Dataset& dataset, const Selection& selection) {
  if (selection.limit < 0) {
    throw core::InputError(core::Location{"", 0, "dataset.limit"},
                           "is " + std::to_string(selection.limit) + "; expected 0 (all) or more");
  }
  if (selection.max_scenes < 0) {
    throw core::InputError(core::Location{"", 0, "dataset.max_scenes"},
                           "is " + std::to_string(selection.max_scenes) + "; expected 0 (all) or more");
  }
  std::vector<std::string> ids, categories;
  for (const auto& story : dataset.stories) {
    ids.push_back(story.id);
    if (std::find(categories.begin(), categories.end(), story.category) == categories.end()) {
      categories.push_back(story.category);
    }
  }
  for (std::size_t i = 0; i < selection.story_ids.size(); ++i) {
    const auto& id = selection.story_ids[i];
    if (std::find(ids.begin(), ids.end(), id) == ids.end()) {
      throw core::InputError(core::Location{"", 0, "dataset.stories[" + std::to_string(i) + "]"},
                             "unknown story id '" + id + "' in dataset '" + dataset.name + "'" +
                                 core::did_you_mean(id, ids));
    }
  }
  for (std::size_t i = 0; i < selection.categories.size(); ++i) {
    const auto& category = selection.categories[i];
    if (std::find(categories.begin(), categories.end(), category) == categories.end()) {
      throw core::InputError(core::Location{"", 0, "dataset.categories[" + std::to_string(i) + "]"},
                             "unknown category '" + category + "' in dataset '" + dataset.name + "'" +
                                 core::did_you_mean(category, categories) +
                                 "; expected one of: " + core::join(categories, ", "));
    }
  }
  const std::set<std::string> wanted_ids(selection.story_ids.begin(), selection.story_ids.end());
  const std::set<std::string> wanted_categories(selection.categories.begin(), selection.categories.end());
  Dataset out{dataset.name, dataset.root, {}};
  for (const auto& story : dataset.stories) {
    if (!wanted_ids.empty() && !wanted_ids.contains(story.id)) continue;
    if (!wanted_categories.empty() && !wanted_categories.contains(story.category)) continue;
    if (selection.limit > 0 && static_cast<int>(out.stories.size()) >= selection.limit) break;
    Story kept = story;
    if (selection.max_scenes > 0 && static_cast<int>(kept.scenes.size()) > selection.max_scenes) {
      kept.scenes.resize(static_cast<std::size_t>(selection.max_scenes));
    }
    out.stories.push_back(std::move(kept));
  }
  return out;
}

}  // namespace dsbench::datasets
