#include "core/image.h"

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "core/errors.h"
#include "core/files.h"

namespace dsbench::core {
namespace {

int cv_type(int channels) {
  switch (channels) {
    case 1: return CV_8UC1;
    case 3: return CV_8UC3;
    case 4: return CV_8UC4;
    default: throw RunError("image has unsupported channel count " + std::to_string(channels));
  }
}

}  // namespace

std::string encode_png(const Image& image) {
  if (image.empty()) throw RunError("cannot encode an empty image as PNG");
  // OpenCV stores colour as BGR(A): convert so the file has the colours the Image means.
  cv::Mat view(image.height, image.width, cv_type(image.channels),
               const_cast<std::uint8_t*>(image.pixels.data()));
  cv::Mat ordered;
  if (image.channels == 3) cv::cvtColor(view, ordered, cv::COLOR_RGB2BGR);
  else if (image.channels == 4) cv::cvtColor(view, ordered, cv::COLOR_RGBA2BGRA);
  else ordered = view;
  std::vector<unsigned char> buffer;
  if (!cv::imencode(".png", ordered, buffer)) throw RunError("PNG encoding failed");
  return std::string(buffer.begin(), buffer.end());
}

Image decode_image(const std::string& bytes, const std::string& origin) {
  const cv::Mat raw(1, static_cast<int>(bytes.size()), CV_8UC1,
                    const_cast<char*>(bytes.data()));
  cv::Mat decoded = cv::imdecode(raw, cv::IMREAD_UNCHANGED);
  if (decoded.empty()) throw InputError(Location{origin, 0, ""}, "not a decodable image");
  if (decoded.depth() != CV_8U) {
    cv::Mat eight_bit;
    decoded.convertTo(eight_bit, CV_8U, decoded.depth() == CV_16U ? 1.0 / 257.0 : 1.0);
    decoded = eight_bit;
  }
  cv::Mat rgb;
  switch (decoded.channels()) {
    case 1: rgb = decoded; break;
    case 3: cv::cvtColor(decoded, rgb, cv::COLOR_BGR2RGB); break;
    case 4: cv::cvtColor(decoded, rgb, cv::COLOR_BGRA2RGBA); break;
    default:
      throw InputError(Location{origin, 0, ""},
                       "image has " + std::to_string(decoded.channels()) + " channels");
  }
  Image image(rgb.cols, rgb.rows, rgb.channels());
  const std::size_t row_bytes = static_cast<std::size_t>(rgb.cols) * rgb.channels();
  for (int y = 0; y < rgb.rows; ++y) {
    std::copy_n(rgb.ptr<std::uint8_t>(y), row_bytes, image.pixels.data() + y * row_bytes);
  }
  return image;
}

Image read_image(const std::filesystem::path& path) {
  return decode_image(read_file(path), path.string());
}

void write_png_atomic(const std::filesystem::path& path, const Image& image) {
  write_file_atomic(path, encode_png(image));
}

}  // namespace dsbench::core
