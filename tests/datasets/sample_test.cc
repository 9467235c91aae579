// The authored sample that smoke runs and the executor tests use.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "datasets/dataset.h"
#include "tests/datasets/temp_folder.h"

namespace dsbench::datasets {
namespace {

namespace fs = std::filesystem;

fs::path sample_root() { return fs::path(DSBENCH_SOURCE_DIR) / "datasets" / "ds500-sample"; }

TEST(Sample, ValidatesCleanAndMeetsTheShapeRules) {
  const auto problems = validate_dataset(sample_root());
  EXPECT_TRUE(problems.empty()) << testing::describe(problems);
  const Dataset dataset = load_dataset(sample_root());
  EXPECT_EQ(dataset.name, "ds500-sample");
  ASSERT_GE(dataset.stories.size(), 12u);
  std::set<int> subject_counts;
  std::set<std::string> categories;
  for (const Story& story : dataset.stories) {
    SCOPED_TRACE(story.id);
    EXPECT_TRUE(story.annotated);
    EXPECT_FALSE(story.title.empty());
    EXPECT_FALSE(story.text.empty());
    categories.insert(story.category);
    ASSERT_GE(story.subjects.size(), 1u);
    ASSERT_LE(story.subjects.size(), 5u);
    subject_counts.insert(static_cast<int>(story.subjects.size()));
    ASSERT_GE(story.scenes.size(), 4u);
    ASSERT_LE(story.scenes.size(), 8u);
    std::set<int> appearing;
    for (const Subject& subject : story.subjects) {
      EXPECT_FALSE(subject.short_description.empty()) << subject.name;
      EXPECT_GT(subject.description.size(), subject.short_description.size()) << subject.name;
    }
    for (const Scene& scene : story.scenes) {
      SCOPED_TRACE(scene.prompt);
      EXPECT_FALSE(scene.text.empty());
      EXPECT_FALSE(scene.rewritten_prompt.empty());
      for (const int index : scene.subjects) {
        const Subject& subject = story.subjects[static_cast<std::size_t>(index)];
        appearing.insert(index);
        // Prompts name the subjects; rewritten prompts replace every name by its
        // short description.
        EXPECT_NE(scene.prompt.find(subject.name), std::string::npos) << subject.name;
        EXPECT_NE(scene.rewritten_prompt.find(subject.short_description), std::string::npos) << subject.name;
      }
      for (const Subject& subject : story.subjects) {
        EXPECT_EQ(scene.rewritten_prompt.find(subject.name), std::string::npos) << subject.name;
      }
    }
    EXPECT_EQ(appearing.size(), story.subjects.size()) << "every subject appears in some scene";
  }
  EXPECT_EQ(subject_counts, (std::set<int>{1, 2, 3, 4, 5}));
  EXPECT_TRUE(categories.contains("fairy-tale"));
  EXPECT_TRUE(categories.contains("fable"));
  EXPECT_TRUE(fs::exists(sample_root() / "LICENSE.md"));
  EXPECT_TRUE(fs::exists(sample_root() / "README.md"));
}

}  // namespace
}  // namespace dsbench::datasets
