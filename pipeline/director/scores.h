// Director-level scores of one backend over a set of stories: how its plans compare with
// the dataset's annotations, and what its LLM calls cost. Image-level metrics live in
// metrics/; these only judge the text plan.
//
// Definitions (all fractions in [0, 1]):
//   plan_success_rate      stories planned / stories
//   json_valid_first_try   stories whose first answer validated / stories with LLM calls
//   repair_rate            stories that needed at least one repair request / stories with LLM calls
//   subject_recall         matched annotated subjects / annotated subjects      (planned,
//   subject_precision      matched planned subjects / planned subjects           annotated
//   scene_subject_accuracy scenes whose subject set equals the annotated one / scenes  stories)
//   rewrite_coverage       scenes whose rewritten prompt is non-empty and names no subject /
//                          scenes of planned stories
//   latency_mean_ms, latency_p95_ms over answered exchanges (recorded latency for answers
//                          from the store); tokens_in/out and http_requests are sums
//                          (http_requests includes requests that failed or were refused).
// Stories that failed count only in plan_success_rate (and in the call statistics).
// Subject names match after normalize_subject_name, one-to-one: equal names first, then
// a name whose words appear in order inside the other ("wolf" ~ "big bad wolf").
// A name that is part of some subject's short description ("Wolf" in "a grey wolf") can't
// be told from the description in a rewrite and is not counted as remaining.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "pipeline/director/director.h"

namespace dsbench::director {

// Lower-case ASCII; '_', '-' and punctuation become spaces; leading articles (the, a, an)
// and purely numeric words dropped ("00_chef" -> "chef", "The Old  Fisherman" -> "old fisherman").
std::string normalize_subject_name(const std::string& name);

// For each planned subject, the index of the annotated subject it names, or -1.
std::vector<int> match_subjects(const std::vector<SubjectPlan>& planned, const std::vector<datasets::Subject>& annotated);

// Whether `name` occurs in `text` as whole words, case-insensitively.
bool mentions_name(const std::string& text, const std::string& name);

constexpr double kNoValue = std::numeric_limits<double>::quiet_NaN();

struct StoryScores {
  std::string story_id;
  bool planned = false;
  bool scored_against_annotations = false;  // planned and the story is annotated
  std::size_t annotated_subjects = 0, planned_subjects = 0, matched_subjects = 0;
  std::size_t scenes = 0, scenes_rewritten = 0;                 // of the plan
  std::size_t annotated_scenes = 0, scenes_tagged_right = 0;     // of the annotations
  bool has_calls = false, valid_first_try = false;
  int repairs = 0;
  std::vector<double> latencies_ms;
  std::int64_t tokens_in = 0, tokens_out = 0;
  std::int64_t http_requests = 0, calls_from_store = 0;
};

struct DirectorScores {
  std::string backend;
  std::size_t stories = 0, planned = 0;
  double plan_success_rate = kNoValue;
  double json_valid_first_try = kNoValue;
  double repair_rate = kNoValue;
  double subject_recall = kNoValue;
  double subject_precision = kNoValue;
  double scene_subject_accuracy = kNoValue;
  double rewrite_coverage = kNoValue;
  double latency_mean_ms = kNoValue;
  double latency_p95_ms = kNoValue;
  std::int64_t tokens_in = 0, tokens_out = 0;
  std::int64_t http_requests = 0, calls_from_store = 0;
  std::vector<StoryScores> per_story;  // in story order
};

StoryScores score_story(const datasets::Story& story, const PlanOutcome& outcome,
                        const std::vector<CallEvent>& events_of_story);

// `outcomes` parallel to `stories` (plan_stories' result); `events` of this backend, any
// order (take_call_events()).
DirectorScores score_director(const std::string& backend, const std::vector<datasets::Story>& stories,
                              const std::vector<PlanOutcome>& outcomes, const std::vector<CallEvent>& events);

// The scores as ("director.<score>", value) pairs, without the ones that have no value
// (e.g. call statistics of the oracle). Names: director.plan_success_rate,
// director.json_valid_first_try, director.repair_rate, director.subject_recall,
// director.subject_precision, director.scene_subject_accuracy, director.rewrite_coverage,
// director.latency_mean_ms, director.latency_p95_ms, director.tokens_in,
// director.tokens_out, director.http_requests, director.calls_from_store.
std::vector<std::pair<std::string, double>> score_metrics(const DirectorScores& scores);
// The same names for one story (fractions of that story; latency is its mean).
std::vector<std::pair<std::string, double>> story_score_metrics(const StoryScores& scores);

// Nearest-rank percentile (p in [0, 100]) of `values`; NaN when empty.
double percentile(std::vector<double> values, double p);

}  // namespace dsbench::director
