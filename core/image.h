// An 8-bit RGB(A)/gray image in row-major HWC order, and PNG IO (OpenCV underneath,
// kept out of this header so that users of Image do not pull in OpenCV).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace dsbench::core {

struct Image {
  int width = 0;
  int height = 0;
  int channels = 0;  // 1 (gray/mask), 3 (RGB) or 4 (RGBA)
  std::vector<std::uint8_t> pixels;  // height * width * channels, RGB order (not BGR)

  Image() = default;
  Image(int width, int height, int channels)
      : width(width), height(height), channels(channels),
        pixels(static_cast<std::size_t>(width) * height * channels, 0) {}

  bool empty() const { return pixels.empty(); }
  std::uint8_t& at(int y, int x, int c) {
    return pixels[(static_cast<std::size_t>(y) * width + x) * channels + c];
  }
  std::uint8_t at(int y, int x, int c) const {
    return pixels[(static_cast<std::size_t>(y) * width + x) * channels + c];
  }
  bool operator==(const Image& other) const {
    return width == other.width && height == other.height && channels == other.channels &&
           pixels == other.pixels;
  }
};

// PNG bytes of `image` (deterministic for identical pixels).
std::string encode_png(const Image& image);
// Decodes PNG (or any format OpenCV reads) to RGB / gray / RGBA; InputError naming
// `origin` if the bytes are not a decodable image.
Image decode_image(const std::string& bytes, const std::string& origin);

Image read_image(const std::filesystem::path& path);  // InputError names the path
void write_png_atomic(const std::filesystem::path& path, const Image& image);

}  // namespace dsbench::core
