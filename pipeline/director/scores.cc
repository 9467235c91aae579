#include "pipeline/director/scores.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <numeric>
#include <set>

#include "core/text.h"

namespace dsbench::director {
namespace {

bool is_word_byte(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u >= 0x80 || std::isalnum(u) != 0;
}

std::vector<std::string> words_of(const std::string& normalized) {
  std::vector<std::string> words;
  for (const std::string& word : core::split(normalized, ' ')) {
    if (!word.empty()) words.push_back(word);
  }
  return words;
}

// `needle` as a contiguous run of words inside `haystack`.
bool contains_words(const std::vector<std::string>& haystack, const std::vector<std::string>& needle) {
  if (needle.empty() || needle.size() > haystack.size()) return false;
  return std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end()) != haystack.end();
}

double fraction(std::size_t part, std::size_t whole) {
  return whole == 0 ? kNoValue : static_cast<double>(part) / static_cast<double>(whole);
}

// A name still in a rewrite, unless it can't be told from some short description.
bool names_a_subject(const std::string& text, const std::vector<std::string>& names,
                     const std::vector<std::string>& short_descriptions) {
  for (const std::string& name : names) {
    if (!mentions_name(text, name)) continue;
    const bool part_of_a_description =
        std::any_of(short_descriptions.begin(), short_descriptions.end(),
                    [&](const std::string& description) { return mentions_name(description, name); });
    if (!part_of_a_description) return true;
  }
  return false;
}

}  // namespace

std::string normalize_subject_name(const std::string& name) {
  std::string spaced;
  for (const char c : name) {
    const auto u = static_cast<unsigned char>(c);
    spaced += u >= 0x80 || std::isalnum(u) != 0 ? static_cast<char>(std::tolower(u)) : ' ';
  }
  std::vector<std::string> words;
  for (const std::string& word : words_of(spaced)) {
    const bool numeric = std::all_of(word.begin(), word.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
    if (numeric) continue;
    const bool article = word == "the" || word == "a" || word == "an";
    if (article && words.empty()) continue;
    words.push_back(word);
  }
  return core::join(words, " ");
}

std::vector<int> match_subjects(const std::vector<SubjectPlan>& planned, const std::vector<datasets::Subject>& annotated) {
  std::vector<std::vector<std::string>> planned_words;
  std::vector<std::vector<std::string>> annotated_words;
  for (const SubjectPlan& subject : planned) planned_words.push_back(words_of(normalize_subject_name(subject.name)));
  for (const datasets::Subject& subject : annotated) {
    annotated_words.push_back(words_of(normalize_subject_name(subject.name)));
  }
  std::vector<int> match(planned.size(), -1);
  std::vector<bool> taken(annotated.size(), false);
  const auto pass = [&](const auto& same) {
    for (std::size_t p = 0; p < planned.size(); ++p) {
      if (match[p] >= 0 || planned_words[p].empty()) continue;
      for (std::size_t a = 0; a < annotated.size(); ++a) {
        if (taken[a] || annotated_words[a].empty() || !same(planned_words[p], annotated_words[a])) continue;
        match[p] = static_cast<int>(a);
        taken[a] = true;
        break;
      }
    }
  };
  pass([](const auto& x, const auto& y) { return x == y; });
  pass([](const auto& x, const auto& y) { return contains_words(x, y) || contains_words(y, x); });
  return match;
}

bool mentions_name(const std::string& text, const std::string& name) {
  const std::string needle = core::to_lower_ascii(core::trim(name));
  if (needle.empty()) return false;
  const std::string haystack = core::to_lower_ascii(text);
  for (std::size_t at = haystack.find(needle); at != std::string::npos; at = haystack.find(needle, at + 1)) {
    const bool starts_word = at == 0 || !is_word_byte(haystack[at - 1]) || !is_word_byte(needle.front());
    const std::size_t end = at + needle.size();
    const bool ends_word = end == haystack.size() || !is_word_byte(haystack[end]) || !is_word_byte(needle.back());
    if (starts_word && ends_word) return true;
  }
  return false;
}

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return kNoValue;
  std::sort(values.begin(), values.end());
  const auto rank = static_cast<std::size_t>(std::ceil(std::clamp(p, 0.0, 100.0) / 100.0 * values.size()));
  return values[std::max<std::size_t>(rank, 1) - 1];
}

StoryScores score_story(const datasets::Story& story, const PlanOutcome& outcome,
                        const std::vector<CallEvent>& events_of_story) {
  StoryScores scores;
  scores.story_id = story.id;
  scores.planned = outcome.ok;

  for (const CallEvent& event : events_of_story) {
    scores.has_calls = true;
    if (event.attempt == 0 && event.valid) scores.valid_first_try = true;
    scores.repairs = std::max(scores.repairs, event.attempt);
    if (event.answered) scores.latencies_ms.push_back(event.latency_ms);
    scores.tokens_in += event.tokens_in;
    scores.tokens_out += event.tokens_out;
    scores.http_requests += event.http_attempts;
    if (event.from_store) ++scores.calls_from_store;
  }
  if (!outcome.ok) return scores;

  const StoryPlan& plan = outcome.plan;
  std::vector<std::string> names;
  std::vector<std::string> short_descriptions;
  for (const SubjectPlan& subject : plan.subjects) {
    names.push_back(subject.name);
    short_descriptions.push_back(subject.short_prompt);
  }
  const bool annotated = story.annotated && !story.subjects.empty();
  if (story.annotated) {
    for (const datasets::Subject& subject : story.subjects) {
      names.push_back(subject.name);
      short_descriptions.push_back(subject.short_description);
    }
  }
  scores.scenes = plan.scenes.size();
  for (const ScenePlan& scene : plan.scenes) {
    const std::string rewritten = core::trim(scene.rewritten_prompt);
    if (!rewritten.empty() && !names_a_subject(rewritten, names, short_descriptions)) ++scores.scenes_rewritten;
  }
  if (!annotated) return scores;

  scores.scored_against_annotations = true;
  const std::vector<int> match = match_subjects(plan.subjects, story.subjects);
  scores.annotated_subjects = story.subjects.size();
  scores.planned_subjects = plan.subjects.size();
  scores.matched_subjects = static_cast<std::size_t>(std::count_if(match.begin(), match.end(), [](int m) { return m >= 0; }));
  scores.annotated_scenes = story.scenes.size();
  for (std::size_t i = 0; i < story.scenes.size() && i < plan.scenes.size(); ++i) {
    std::set<int> tagged;
    for (const int p : plan.scenes[i].subjects) tagged.insert(match.at(static_cast<std::size_t>(p)));
    const std::set<int> truth(story.scenes[i].subjects.begin(), story.scenes[i].subjects.end());
    if (tagged == truth) ++scores.scenes_tagged_right;
  }
  return scores;
}

DirectorScores score_director(const std::string& backend, const std::vector<datasets::Story>& stories,
                              const std::vector<PlanOutcome>& outcomes, const std::vector<CallEvent>& events) {
  std::map<std::string, std::vector<CallEvent>> events_by_story;
  for (const CallEvent& event : events) events_by_story[event.story_id].push_back(event);

  DirectorScores scores;
  scores.backend = backend;
  scores.stories = stories.size();
  std::size_t with_calls = 0, first_try = 0, repaired = 0;
  std::size_t annotated = 0, planned_subjects = 0, matched = 0, tagged_scenes = 0, tagged_right = 0;
  std::size_t planned_scenes = 0, rewritten = 0;
  std::vector<double> latencies;
  for (std::size_t i = 0; i < stories.size(); ++i) {
    const PlanOutcome& outcome = outcomes.at(i);
    StoryScores story = score_story(stories[i], outcome, events_by_story[stories[i].id]);
    if (story.planned) {
      ++scores.planned;
      planned_scenes += story.scenes;
      rewritten += story.scenes_rewritten;
    }
    if (story.has_calls) {
      ++with_calls;
      if (story.valid_first_try) ++first_try;
      if (story.repairs > 0) ++repaired;
    }
    if (story.scored_against_annotations) {
      annotated += story.annotated_subjects;
      planned_subjects += story.planned_subjects;
      matched += story.matched_subjects;
      tagged_scenes += story.annotated_scenes;
      tagged_right += story.scenes_tagged_right;
    }
    latencies.insert(latencies.end(), story.latencies_ms.begin(), story.latencies_ms.end());
    scores.tokens_in += story.tokens_in;
    scores.tokens_out += story.tokens_out;
    scores.http_requests += story.http_requests;
    scores.calls_from_store += story.calls_from_store;
    scores.per_story.push_back(std::move(story));
  }
  scores.plan_success_rate = fraction(scores.planned, scores.stories);
  scores.json_valid_first_try = fraction(first_try, with_calls);
  scores.repair_rate = fraction(repaired, with_calls);
  scores.subject_recall = fraction(matched, annotated);
  scores.subject_precision = fraction(matched, planned_subjects);
  scores.scene_subject_accuracy = fraction(tagged_right, tagged_scenes);
  scores.rewrite_coverage = fraction(rewritten, planned_scenes);
  if (!latencies.empty()) {
    scores.latency_mean_ms = std::accumulate(latencies.begin(), latencies.end(), 0.0) / latencies.size();
    scores.latency_p95_ms = percentile(latencies, 95.0);
  }
  return scores;
}

std::vector<std::pair<std::string, double>> score_metrics(const DirectorScores& scores) {
  const bool has_calls = !std::isnan(scores.json_valid_first_try);
  std::vector<std::pair<std::string, double>> all = {
      {"director.plan_success_rate", scores.plan_success_rate},
      {"director.json_valid_first_try", scores.json_valid_first_try},
      {"director.repair_rate", scores.repair_rate},
      {"director.subject_recall", scores.subject_recall},
      {"director.subject_precision", scores.subject_precision},
      {"director.scene_subject_accuracy", scores.scene_subject_accuracy},
      {"director.rewrite_coverage", scores.rewrite_coverage},
      {"director.latency_mean_ms", scores.latency_mean_ms},
      {"director.latency_p95_ms", scores.latency_p95_ms},
      {"director.tokens_in", has_calls ? static_cast<double>(scores.tokens_in) : kNoValue},
      {"director.tokens_out", has_calls ? static_cast<double>(scores.tokens_out) : kNoValue},
      {"director.http_requests", has_calls ? static_cast<double>(scores.http_requests) : kNoValue},
      {"director.calls_from_store", has_calls ? static_cast<double>(scores.calls_from_store) : kNoValue}};
  std::erase_if(all, [](const auto& entry) { return std::isnan(entry.second); });
  return all;
}

std::vector<std::pair<std::string, double>> story_score_metrics(const StoryScores& scores) {
  const double latency_mean =
      scores.latencies_ms.empty()
          ? kNoValue
          : std::accumulate(scores.latencies_ms.begin(), scores.latencies_ms.end(), 0.0) / scores.latencies_ms.size();
  const auto with_calls = [&](double value) { return scores.has_calls ? value : kNoValue; };
  const auto annotated = [&](std::size_t part, std::size_t whole) {
    return scores.scored_against_annotations ? fraction(part, whole) : kNoValue;
  };
  std::vector<std::pair<std::string, double>> all = {
      {"director.plan_success_rate", scores.planned ? 1.0 : 0.0},
      {"director.json_valid_first_try", with_calls(scores.valid_first_try ? 1.0 : 0.0)},
      {"director.repair_rate", with_calls(scores.repairs > 0 ? 1.0 : 0.0)},
      {"director.subject_recall", annotated(scores.matched_subjects, scores.annotated_subjects)},
      {"director.subject_precision", annotated(scores.matched_subjects, scores.planned_subjects)},
      {"director.scene_subject_accuracy", annotated(scores.scenes_tagged_right, scores.annotated_scenes)},
      {"director.rewrite_coverage", scores.planned ? fraction(scores.scenes_rewritten, scores.scenes) : kNoValue},
      {"director.latency_mean_ms", latency_mean},
      {"director.tokens_in", with_calls(static_cast<double>(scores.tokens_in))},
      {"director.tokens_out", with_calls(static_cast<double>(scores.tokens_out))},
      {"director.http_requests", with_calls(static_cast<double>(scores.http_requests))},
      {"director.calls_from_store", with_calls(static_cast<double>(scores.calls_from_store))}};
  std::erase_if(all, [](const auto& entry) { return std::isnan(entry.second); });
  return all;
}

}  // namespace dsbench::director
