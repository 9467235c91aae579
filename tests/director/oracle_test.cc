#include <gtest/gtest.h>

#include "core/errors.h"
#include "pipeline/director/director.h"

namespace dsbench::director {
namespace {

datasets::Story hansel_and_gretel() {
  datasets::Story story;
  story.id = "hg";
  story.title = "Hansel and Gretel";
  story.subjects = {
      {.name = "Hansel", .kind = "boy", .description = "a boy with brown hair, full body",
       .short_description = "a boy in a green jacket."},
      {.name = "Gretel", .kind = "girl", .description = "a girl with braids, full body",
       .short_description = "a girl with blond braids"},
  };
  datasets::Scene walk;
  walk.prompt = "Hansel and GRETEL walk into the forest, gretel's basket swinging";
  walk.subjects = {0, 1};
  datasets::Scene given;
  given.prompt = "Hansel drops pebbles";
  given.subjects = {0};
  given.rewritten_prompt = "a boy drops white pebbles";
  story.scenes = {walk, given};
  return story;
}

TEST(OraclePlan, CopiesAnnotationsAndRewritesScenesWithoutRewrite) {
  const StoryPlan plan = oracle_plan(hansel_and_gretel());
  EXPECT_EQ(plan.story_id, "hg");
  ASSERT_EQ(plan.subjects.size(), 2u);
  EXPECT_EQ(plan.subjects[0].name, "Hansel");
  EXPECT_EQ(plan.subjects[0].kind, "boy");
  EXPECT_EQ(plan.subjects[0].portrait_prompt, "a boy with brown hair, full body");
  EXPECT_EQ(plan.subjects[0].short_prompt, "a boy in a green jacket.");
  ASSERT_EQ(plan.scenes.size(), 2u);
  EXPECT_EQ(plan.scenes[0].subjects, (std::vector<int>{0, 1}));
  EXPECT_EQ(plan.scenes[0].rewritten_prompt,
            "a boy in a green jacket and a girl with blond braids walk into the forest, "
            "a girl with blond braids's basket swinging");
  EXPECT_EQ(plan.scenes[1].rewritten_prompt, "a boy drops white pebbles");  // the dataset's own
}

TEST(RewritePrompt, RespectsWordBoundariesAndPrefersLongerNames) {
  const std::vector<SubjectPlan> subjects = {
      {.name = "Red", .kind = "wolf", .portrait_prompt = "", .short_prompt = "a red wolf"},
      {.name = "Little Red", .kind = "girl", .portrait_prompt = "", .short_prompt = "a girl in a red hood"},
      {.name = "Ann", .kind = "woman", .portrait_prompt = "", .short_prompt = ""},
  };
  EXPECT_EQ(rewrite_prompt("Little Red meets Red near Anne's house", subjects),
            "a girl in a red hood meets a red wolf near Anne's house");
  EXPECT_EQ(rewrite_prompt("Ann, Redwood", subjects), "woman, Redwood");  // kind when no short prompt
  EXPECT_EQ(rewrite_prompt("Hansel\xE2\x80\x99s hat", {{.name = "Hansel", .kind = "boy", .portrait_prompt = "",
                                                      .short_prompt = "a boy"}}),
            "a boy\xE2\x80\x99s hat");
  EXPECT_EQ(rewrite_prompt("a jolly chef cooks", subjects), "a jolly chef cooks");
}

TEST(OraclePlan, UnannotatedStoryIsARunError) {
  datasets::Story raw;
  raw.id = "3201_the_gift";
  raw.annotated = false;
  raw.subjects.clear();
  raw.scenes.clear();
  try {
    oracle_plan(raw);
    FAIL() << "expected a RunError";
  } catch (const core::RunError& error) {
    EXPECT_EQ(std::string(error.what()), "story 3201_the_gift has no annotations; use an LLM backend");
  }
}

TEST(OraclePlan, OutOfRangeSubjectIndexIsARunError) {
  datasets::Story story = hansel_and_gretel();
  story.scenes[1].subjects = {5};
  EXPECT_THROW(oracle_plan(story), core::RunError);
}

TEST(OracleDirector, PlansThroughTheInterfaceAndPlanStoriesKeepsGoing) {
  const std::unique_ptr<Director> director = make_oracle_director();
  EXPECT_EQ(director->name(), "oracle");
  datasets::Story raw;
  raw.id = "raw";
  raw.annotated = false;
  const std::vector<datasets::Story> stories = {hansel_and_gretel(), raw, hansel_and_gretel()};
  const std::vector<PlanOutcome> outcomes = plan_stories(*director, stories, 2);
  ASSERT_EQ(outcomes.size(), 3u);
  EXPECT_TRUE(outcomes[0].ok);
  EXPECT_FALSE(outcomes[1].ok);
  EXPECT_NE(outcomes[1].error.find("no annotations"), std::string::npos);
  EXPECT_TRUE(outcomes[2].ok);
  EXPECT_EQ(outcomes[2].plan.scenes.size(), 2u);
  EXPECT_TRUE(director->take_call_events().empty());
}

}  // namespace
}  // namespace dsbench::director
