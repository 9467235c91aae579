#include "metrics/crops.h"

#include <gtest/gtest.h>

namespace dsbench::metrics {
namespace {

TEST(Crops, BoxFromMaskIsTheBoundingBox) {
  core::Image mask(6, 5, 1);
  mask.at(1, 2, 0) = 255;
  mask.at(3, 4, 0) = 1;
  EXPECT_EQ(box_from_mask(mask), (Box{2, 1, 5, 4}));
  EXPECT_FALSE(box_from_mask(core::Image(3, 3, 1)).has_value());
}

TEST(Crops, WidePatchIsCentredOnWhite) {
  core::Image image(4, 4, 3);  // black
  const core::Image square = white_padded_square_crop(image, Box{0, 1, 4, 3});
  ASSERT_EQ(square.width, 4);
  ASSERT_EQ(square.height, 4);
  EXPECT_EQ(square.at(0, 0, 0), 255);  // padding row above
  EXPECT_EQ(square.at(1, 0, 0), 0);    // crop rows 1..2
  EXPECT_EQ(square.at(2, 3, 2), 0);
  EXPECT_EQ(square.at(3, 3, 1), 255);  // padding row below
}

TEST(Crops, EmptyBoxThrows) {
  EXPECT_THROW(white_padded_square_crop(core::Image(4, 4, 3), Box{5, 5, 6, 6}),
               std::invalid_argument);
}

}  // namespace
}  // namespace dsbench::metrics
