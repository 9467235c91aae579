// The oracle director: the dataset's own annotations, rewritten prompts filled in where
// the dataset has none.
#include <algorithm>
#include <cctype>

#include "core/errors.h"
#include "core/text.h"
#include "pipeline/director/director.h"

namespace dsbench::director {
namespace {

bool is_word_char(char c) {
  const auto u = static_cast<unsigned char>(c);
  // Bytes of multi-byte UTF-8 characters count as boundaries so that typographic
  // apostrophes ("Hansel’s") end a name.
  return u < 0x80 && (std::isalnum(u) != 0 || c == '_');
}

bool matches_at(const std::string& text, std::size_t pos, const std::string& lowered_name) {
  if (pos + lowered_name.size() > text.size()) return false;
  for (std::size_t i = 0; i < lowered_name.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[pos + i]);
    if (static_cast<char>(std::tolower(c)) != lowered_name[i]) return false;
  }
  const std::size_t end = pos + lowered_name.size();
  return end == text.size() || !is_word_char(text[end]) || !is_word_char(lowered_name.back());
}

std::string replacement_for(const SubjectPlan& subject) {
  std::string phrase = core::trim(subject.short_prompt);
  while (!phrase.empty() && (phrase.back() == '.' || phrase.back() == ' ')) phrase.pop_back();
  if (phrase.empty()) phrase = core::trim(subject.kind);
  return phrase.empty() ? subject.name : phrase;
}

class OracleDirector : public Director {
 public:
  explicit OracleDirector(std::string name) : name_(std::move(name)) {}
  std::string name() const override { return name_; }
  StoryPlan plan(const datasets::Story& story) override { return oracle_plan(story); }

 private:
  std::string name_;
};

}  // namespace

std::string rewrite_prompt(const std::string& prompt, const std::vector<SubjectPlan>& subjects) {
  struct Name {
    std::string lowered;
    std::string replacement;
  };
  std::vector<Name> names;
  for (const SubjectPlan& subject : subjects) {
    const std::string lowered = core::to_lower_ascii(core::trim(subject.name));
    if (!lowered.empty()) names.push_back({lowered, replacement_for(subject)});
  }
  // Longest first so "Little Red" wins over "Red" at the same position.
  std::stable_sort(names.begin(), names.end(), [](const Name& a, const Name& b) {
    return a.lowered.size() > b.lowered.size();
  });

  // One left-to-right pass: inserted descriptions are never searched again.
  std::string out;
  out.reserve(prompt.size());
  std::size_t pos = 0;
  while (pos < prompt.size()) {
    const bool at_word_start = pos == 0 || !is_word_char(prompt[pos - 1]);
    const Name* hit = nullptr;
    if (at_word_start) {
      for (const Name& name : names) {
        if (matches_at(prompt, pos, name.lowered)) {
          hit = &name;
          break;
        }
      }
    }
    if (hit != nullptr) {
      out += hit->replacement;
      pos += hit->lowered.size();
    } else {
      out += prompt[pos++];
    }
  }
  return out;
}

StoryPlan oracle_plan(const datasets::Story& story) {
  if (!story.annotated) {
    throw core::RunError("story " + story.id + " has no annotations; use an LLM backend");
  }
  if (story.scenes.empty()) {
    throw core::RunError("story " + story.id + " has no scenes in its annotations; use an LLM backend");
  }
  StoryPlan plan;
  plan.story_id = story.id;
  for (const datasets::Subject& subject : story.subjects) {
    plan.subjects.push_back(SubjectPlan{.name = subject.name,
                                        .kind = subject.kind,
                                        .portrait_prompt = subject.description,
                                        .short_prompt = subject.short_description});
  }
  for (std::size_t i = 0; i < story.scenes.size(); ++i) {
    const datasets::Scene& scene = story.scenes[i];
    ScenePlan scene_plan{.prompt = scene.prompt, .subjects = scene.subjects, .rewritten_prompt = {}};
    for (const int index : scene.subjects) {
      if (index < 0 || static_cast<std::size_t>(index) >= story.subjects.size()) {
        throw core::RunError("story " + story.id + ": scenes[" + std::to_string(i) +
                             "] names subject index " + std::to_string(index) + " but the story has " +
                             std::to_string(story.subjects.size()) + " subjects");
      }
    }
    scene_plan.rewritten_prompt = scene.rewritten_prompt.empty()
                                      ? rewrite_prompt(scene.prompt, plan.subjects)
                                      : scene.rewritten_prompt;
    plan.scenes.push_back(std::move(scene_plan));
  }
  return plan;
}

std::unique_ptr<Director> make_oracle_director(const std::string& name) {
  return std::make_unique<OracleDirector>(name.empty() ? "oracle" : name);
}

}  // namespace dsbench::director
