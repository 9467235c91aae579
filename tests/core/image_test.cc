#include "core/image.h"

#include <gtest/gtest.h>

#include "core/errors.h"

namespace dsbench::core {
namespace {

TEST(Image, PngRoundTripKeepsRgbOrder) {
  Image image(3, 2, 3);
  image.at(0, 0, 0) = 255;  // pure red top-left
  image.at(1, 2, 2) = 200;  // blue bottom-right
  const Image back = decode_image(encode_png(image), "memory");
  EXPECT_EQ(back, image);
  EXPECT_EQ(encode_png(image), encode_png(back));  // deterministic bytes
}

TEST(Image, GrayAndAlphaRoundTrip) {
  Image gray(4, 4, 1);
  gray.at(2, 3, 0) = 77;
  EXPECT_EQ(decode_image(encode_png(gray), "m"), gray);
  Image rgba(2, 2, 4);
  rgba.at(1, 1, 3) = 128;
  rgba.at(1, 1, 0) = 10;
  EXPECT_EQ(decode_image(encode_png(rgba), "m"), rgba);
}

TEST(Image, CorruptBytesAreAnInputErrorNamingTheOrigin) {
  std::string png = encode_png(Image(8, 8, 3));
  png.resize(png.size() / 3);
  try {
    decode_image("not an image at all", "scene_03.png");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("scene_03.png"), std::string::npos);
  }
}

}  // namespace
}  // namespace dsbench::core
