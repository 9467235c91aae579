#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <iostream>
#include <map>

#include "pipeline/director/scores.h"

namespace dsbench::director {
namespace {

datasets::Story hansel_and_gretel() {
  datasets::Story story;
  story.id = "hg";
  story.subjects = {{.name = "Hansel", .kind = "boy", .description = "", .short_description = "a boy in green"},
                    {.name = "Gretel", .kind = "girl", .description = "", .short_description = "a girl in red"}};
  datasets::Scene both;
  both.prompt = "Hansel and Gretel in the forest";
  both.subjects = {0, 1};
  datasets::Scene one;
  one.prompt = "Hansel drops pebbles";
  one.subjects = {0};
  story.scenes = {both, one};
  return story;
}

datasets::Story synthetic() {
  datasets::Story story;
  story.id = "syn";
  story.subjects = {{.name = "00_cat", .kind = "cat", .description = "", .short_description = "a tabby cat"},
                    {.name = "01_dog", .kind = "dog", .description = "", .short_description = "a brown dog"}};
  datasets::Scene scene;
  scene.prompt = "a cat and a dog";
  scene.subjects = {1, 0};
  story.scenes = {scene};
  return story;
}

SubjectPlan subject(const std::string& name, const std::string& short_prompt = "someone") {
  return SubjectPlan{.name = name, .kind = "x", .portrait_prompt = "p", .short_prompt = short_prompt};
}

PlanOutcome planned(const std::string& id, StoryPlan plan) {
  plan.story_id = id;
  return PlanOutcome{.story_id = id, .ok = true, .plan = std::move(plan), .error = {}};
}

CallEvent event(const std::string& story, int attempt, bool valid, double latency, bool from_store = false,
                int http_attempts = 1) {
  CallEvent e;
  e.backend = "llm";
  e.story_id = story;
  e.attempt = attempt;
  e.valid = valid;
  e.from_store = from_store;
  e.latency_ms = latency;
  e.tokens_in = 10;
  e.tokens_out = 5;
  e.http_attempts = from_store ? 0 : http_attempts;
  e.answered = true;
  return e;
}

std::map<std::string, double> as_map(const std::vector<std::pair<std::string, double>>& metrics) {
  return {metrics.begin(), metrics.end()};
}

TEST(SubjectNames, Normalization) {
  EXPECT_EQ(normalize_subject_name("00_chef"), "chef");
  EXPECT_EQ(normalize_subject_name("The Old  Fisherman"), "old fisherman");
  EXPECT_EQ(normalize_subject_name("Little-Red Riding Hood!"), "little red riding hood");
  EXPECT_EQ(normalize_subject_name("a"), "");
  EXPECT_EQ(normalize_subject_name("Café Owner"), "café owner");  // non-ASCII bytes kept as they are
}

TEST(SubjectNames, MatchingIsOneToOneExactFirst) {
  const std::vector<datasets::Subject> annotated = {{.name = "wolf", .kind = "", .description = "", .short_description = ""},
                                                    {.name = "Big Bad Wolf", .kind = "", .description = "", .short_description = ""},
                                                    {.name = "00_cat", .kind = "", .description = "", .short_description = ""}};
  // "the big bad wolf" equals annotated[1] after normalization even though "wolf" would
  // also contain-match annotated[0]; "Wolf" then takes annotated[0]; "Cat" ~ "00_cat".
  const std::vector<int> match =
      match_subjects({subject("Wolf"), subject("the big bad wolf"), subject("Cat"), subject("Fox")}, annotated);
  EXPECT_EQ(match, (std::vector<int>{0, 1, 2, -1}));
  EXPECT_EQ(match_subjects({subject("old fisher")}, {{.name = "The Old Fisherman", .kind = "",
                                                      .description = "", .short_description = ""}}),
            (std::vector<int>{-1}));  // whole words only
  EXPECT_EQ(match_subjects({subject("fisherman")}, {{.name = "The Old Fisherman", .kind = "", .description = "",
                                                     .short_description = ""}}),
            (std::vector<int>{0}));
}

TEST(SubjectNames, MentionsAreWholeWords) {
  EXPECT_TRUE(mentions_name("Hansel's hat", "hansel"));
  EXPECT_TRUE(mentions_name("with GRETEL.", "Gretel"));
  EXPECT_FALSE(mentions_name("Hanselmann walks", "Hansel"));
  EXPECT_FALSE(mentions_name("a boy", ""));
  EXPECT_TRUE(mentions_name("see Little Red run", "little red"));
}

TEST(Percentile, NearestRank) {
  EXPECT_DOUBLE_EQ(percentile({100, 300, 200, 400}, 95.0), 400.0);
  EXPECT_DOUBLE_EQ(percentile({5, 1, 3}, 50.0), 3.0);
  EXPECT_DOUBLE_EQ(percentile({7}, 0.0), 7.0);
  EXPECT_TRUE(std::isnan(percentile({}, 95.0)));
}

TEST(DirectorScores, HandComputedMixOfStories) {
  datasets::Story failed = hansel_and_gretel();
  failed.id = "x";
  const std::vector<datasets::Story> stories = {hansel_and_gretel(), synthetic(), failed};

  StoryPlan hg;
  hg.subjects = {subject("hansel", "a boy in green"), subject("The Witch", "an old woman")};
  // Scene 0 misses Gretel (tag wrong), rewrite clean; scene 1 tag right, rewrite keeps the name.
  hg.scenes = {ScenePlan{.prompt = "p", .subjects = {0}, .rewritten_prompt = "a boy in green in the forest"},
               ScenePlan{.prompt = "p", .subjects = {0}, .rewritten_prompt = "Hansel drops pebbles"}};
  StoryPlan syn;
  syn.subjects = {subject("Cat", "a tabby cat"), subject("big dog", "a big brown dog")};
  syn.scenes = {ScenePlan{.prompt = "p", .subjects = {0, 1}, .rewritten_prompt = "a tabby cat and a big brown dog"}};
  const std::vector<PlanOutcome> outcomes = {planned("hg", hg), planned("syn", syn),
                                             PlanOutcome{.story_id = "x", .ok = false, .plan = {}, .error = "boom"}};
  CallEvent transport_failure = event("x", 1, false, 0.0, false, 2);  // two requests, no answer
  transport_failure.answered = false;
  transport_failure.tokens_in = 0;
  transport_failure.tokens_out = 0;
  const std::vector<CallEvent> events = {event("hg", 0, false, 100), event("syn", 0, true, 200, true),
                                         event("hg", 1, true, 300), event("x", 0, false, 400),
                                         transport_failure};

  const DirectorScores scores = score_director("llm", stories, outcomes, events);
  EXPECT_EQ(scores.stories, 3u);
  EXPECT_EQ(scores.planned, 2u);
  EXPECT_DOUBLE_EQ(scores.plan_success_rate, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(scores.json_valid_first_try, 1.0 / 3.0);  // only syn
  EXPECT_DOUBLE_EQ(scores.repair_rate, 2.0 / 3.0);           // hg and x
  EXPECT_DOUBLE_EQ(scores.subject_recall, 3.0 / 4.0);        // Hansel, cat, dog of 4 annotated
  EXPECT_DOUBLE_EQ(scores.subject_precision, 3.0 / 4.0);     // the Witch is not annotated
  EXPECT_DOUBLE_EQ(scores.scene_subject_accuracy, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(scores.rewrite_coverage, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(scores.latency_mean_ms, 250.0);           // the transport failure has no answer
  EXPECT_DOUBLE_EQ(scores.latency_p95_ms, 400.0);
  EXPECT_EQ(scores.tokens_in, 40);
  EXPECT_EQ(scores.tokens_out, 20);
  EXPECT_EQ(scores.http_requests, 5);
  EXPECT_EQ(scores.calls_from_store, 1);

  const auto metrics = as_map(score_metrics(scores));
  EXPECT_EQ(metrics.size(), 13u);
  EXPECT_DOUBLE_EQ(metrics.at("director.subject_recall"), 0.75);
  EXPECT_DOUBLE_EQ(metrics.at("director.tokens_in"), 40.0);

  ASSERT_EQ(scores.per_story.size(), 3u);
  const auto hg_metrics = as_map(story_score_metrics(scores.per_story[0]));
  EXPECT_DOUBLE_EQ(hg_metrics.at("director.subject_recall"), 0.5);
  EXPECT_DOUBLE_EQ(hg_metrics.at("director.scene_subject_accuracy"), 0.5);
  EXPECT_DOUBLE_EQ(hg_metrics.at("director.rewrite_coverage"), 0.5);
  EXPECT_DOUBLE_EQ(hg_metrics.at("director.json_valid_first_try"), 0.0);
  EXPECT_DOUBLE_EQ(hg_metrics.at("director.latency_mean_ms"), 200.0);
  const auto failed_metrics = as_map(story_score_metrics(scores.per_story[2]));
  EXPECT_DOUBLE_EQ(failed_metrics.at("director.plan_success_rate"), 0.0);
  EXPECT_FALSE(failed_metrics.contains("director.subject_recall"));
}

TEST(DirectorScores, OracleIsPerfectAndHasNoCallStatistics) {
  const std::vector<datasets::Story> stories = {hansel_and_gretel(), synthetic()};
  const auto oracle = make_oracle_director();
  const DirectorScores scores = score_director("oracle", stories, plan_stories(*oracle, stories, 1), {});
  EXPECT_DOUBLE_EQ(scores.plan_success_rate, 1.0);
  EXPECT_DOUBLE_EQ(scores.subject_recall, 1.0);
  EXPECT_DOUBLE_EQ(scores.subject_precision, 1.0);
  EXPECT_DOUBLE_EQ(scores.scene_subject_accuracy, 1.0);
  EXPECT_DOUBLE_EQ(scores.rewrite_coverage, 1.0);
  const auto metrics = as_map(score_metrics(scores));
  EXPECT_FALSE(metrics.contains("director.json_valid_first_try"));
  EXPECT_FALSE(metrics.contains("director.latency_mean_ms"));
  EXPECT_FALSE(metrics.contains("director.tokens_in"));
  EXPECT_EQ(metrics.size(), 5u);
}

TEST(DirectorScores, NameInsideAShortDescriptionIsNotALeftover) {
  datasets::Story story;
  story.id = "wolf";
  story.annotated = false;  // a raw story: judged by its own plan's names
  StoryPlan plan;
  plan.subjects = {subject("Wolf", "a grey wolf"), subject("Red", "a girl in a red hood")};
  plan.scenes = {ScenePlan{.prompt = "p", .subjects = {0, 1}, .rewritten_prompt = "a grey wolf meets a girl in a red hood"},
                 ScenePlan{.prompt = "p", .subjects = {1}, .rewritten_prompt = ""}};
  const StoryScores scores = score_story(story, planned("wolf", plan), {});
  EXPECT_EQ(scores.scenes, 2u);
  EXPECT_EQ(scores.scenes_rewritten, 1u);  // the empty rewrite does not count
  EXPECT_FALSE(scores.scored_against_annotations);
}

}  // namespace
}  // namespace dsbench::director

namespace dsbench::director {
namespace {

// The oracle over the DS-500 release: an upper bound, and a check that the annotations
// score as they should (every name matched, every scene tagged right). Rewrite coverage
// below 1 would mean annotated rewrites that still carry a name.
TEST(DirectorScores, OracleOverTheDs500Release) {
  const std::filesystem::path root = std::filesystem::path(DSBENCH_SHARED_DIR) / "data" / "ds500";
  if (!std::filesystem::exists(root)) GTEST_SKIP() << "no DS-500 copy at " << root;
  const datasets::Dataset dataset = datasets::load_dataset(root);
  std::vector<datasets::Story> annotated;
  for (const auto& story : dataset.stories) {
    if (story.annotated && !story.scenes.empty()) annotated.push_back(story);
  }
  ASSERT_FALSE(annotated.empty());
  const auto oracle = make_oracle_director();
  const DirectorScores scores = score_director("oracle", annotated, plan_stories(*oracle, annotated, 2), {});
  EXPECT_DOUBLE_EQ(scores.plan_success_rate, 1.0);
  EXPECT_DOUBLE_EQ(scores.subject_recall, 1.0);
  EXPECT_DOUBLE_EQ(scores.subject_precision, 1.0);
  EXPECT_DOUBLE_EQ(scores.scene_subject_accuracy, 1.0);
  EXPECT_GT(scores.rewrite_coverage, 0.9);
  std::cout << "oracle over DS-500: " << annotated.size() << " annotated stories, rewrite coverage "
            << scores.rewrite_coverage << "\n";
}

}  // namespace
}  // namespace dsbench::director
