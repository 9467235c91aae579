#include "core/errors.h"

#include <gtest/gtest.h>

namespace dsbench::core {
namespace {

TEST(Errors, InputErrorNamesFileLineAndField) {
  const InputError error(Location{"configs/a.yaml", 12, "sampler.steps"}, "expected an integer");
  EXPECT_STREQ(error.what(), "configs/a.yaml:12: sampler.steps: expected an integer");
  EXPECT_EQ(error.code(), ExitCode::kInputError);
}

TEST(Errors, LocationLeavesOutEmptyParts) {
  EXPECT_EQ((Location{"f.json", 0, ""}).to_string(), "f.json");
  EXPECT_EQ((Location{"", 3, "x"}).to_string(), "line 3: x");
  EXPECT_EQ((Location{"", 0, ""}).to_string(), "");
  EXPECT_STREQ(InputError(Location{}, "plain").what(), "plain");
}

TEST(Errors, RunErrorExitsWithOne) { EXPECT_EQ(static_cast<int>(RunError("x").code()), 1); }

}  // namespace
}  // namespace dsbench::core
