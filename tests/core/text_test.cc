#include "core/text.h"

#include <gtest/gtest.h>

namespace dsbench::core {
namespace {

TEST(Text, EditDistance) {
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(edit_distance("", "abc"), 3u);
  EXPECT_EQ(edit_distance("same", "same"), 0u);
}

TEST(Text, DidYouMeanSuggestsOnlyNearMisses) {
  const std::vector<std::string> keys = {"sampler", "systems", "dataset", "metrics"};
  EXPECT_EQ(did_you_mean("sampeler", keys), " (did you mean 'sampler'?)");
  EXPECT_EQ(did_you_mean("datset", keys), " (did you mean 'dataset'?)");
  EXPECT_EQ(did_you_mean("completely_unrelated", keys), "");
}

TEST(Text, SplitJoinTrim) {
  EXPECT_EQ(split("a.b..c", '.'), (std::vector<std::string>{"a", "b", "", "c"}));
  EXPECT_EQ(join({"x", "y"}, ", "), "x, y");
  EXPECT_EQ(trim("  hi \n"), "hi");
  EXPECT_EQ(to_lower_ascii("MiXeD"), "mixed");
}

}  // namespace
}  // namespace dsbench::core
