#include "pipeline/masks/masks.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/errors.h"
#include "core/files.h"

namespace dsbench::masks {
namespace {

std::filesystem::path temp_dir() {
  const auto dir = std::filesystem::path(DSBENCH_BINARY_DIR) / "masks_test_files";
  std::filesystem::create_directories(dir);
  return dir;
}

std::filesystem::path write(const std::string& name, const std::string& text) {
  const auto path = temp_dir() / name;
  std::ofstream(path) << text;
  return path;
}

std::string input_error(const std::function<void()>& action) {
  try {
    action();
  } catch (const core::InputError& e) {
    return e.what();
  }
  return "";
}

// One recorded map on a 4x4 grid with 5 tokens: token 0 = start (background), subject A
// at token 1 (left half, high), subject B at tokens 2-3 (right-bottom quarter).
attention::RecordedMap hand_map() {
  auto p = torch::full({1, 16, 5}, 0.01f);
  for (int y = 0; y < 4; ++y) {
    for (int x = 0; x < 4; ++x) {
      const int n = y * 4 + x;
      p[0][n][0] = 0.5f;  // background everywhere
      if (x < 2) p[0][n][1] = 0.9f;
      if (x >= 2 && y >= 2) {
        p[0][n][2] = 0.8f;
        p[0][n][3] = 1.0f;
      }
    }
  }
  attention::RecordedMap map;
  map.height = 4;
  map.width = 4;
  map.probabilities = p;
  return map;
}

TEST(MasksFromAttentionTest, ArgMaxAmongSubjectsAndBackground) {
  AttentionMaskOptions options;
  options.height = 4;
  options.width = 4;
  options.morphology_kernel = 0;
  options.min_area = 0.0;
  const auto masks = masks_from_attention({hand_map()}, 0, {{1}, {2, 3}}, options);
  ASSERT_EQ(masks.size(), 2u);
  // Background normalised is constant 0 (min == max) → subjects win wherever they are > min.
  auto expected_a = torch::zeros({4, 4}, torch::kBool);
  expected_a.slice(1, 0, 2).fill_(true);
  auto expected_b = torch::zeros({4, 4}, torch::kBool);
  expected_b.slice(0, 2).slice(1, 2).fill_(true);
  EXPECT_TRUE(torch::equal(masks[0], expected_a)) << masks[0];
  EXPECT_TRUE(torch::equal(masks[1], expected_b)) << masks[1];
  EXPECT_FALSE((masks[0] & masks[1]).any().item<bool>());
}

TEST(MasksFromAttentionTest, ResizesToOutputAndAveragesMaps) {
  AttentionMaskOptions options;
  options.height = 8;
  options.width = 8;
  options.morphology_kernel = 0;
  options.min_area = 0.0;
  const auto masks = masks_from_attention({hand_map(), hand_map()}, 0, {{1}, {2, 3}}, options);
  EXPECT_EQ(masks[0].sizes(), (std::vector<std::int64_t>{8, 8}));
  EXPECT_TRUE(masks[0][0][0].item<bool>());
  EXPECT_TRUE(masks[1][7][7].item<bool>());
  EXPECT_FALSE(masks[1][0][7].item<bool>());
}

TEST(MasksFromScoresTest, BackgroundWinsAndSmallMasksExpandWithoutOverlap) {
  auto scores = torch::zeros({3, 10, 10});
  scores[0].fill_(0.5);
  scores[1][5][5] = 1.0;         // one pixel: expanded
  scores[2].slice(1, 0, 3).fill_(1.0);  // left three columns
  scores[0][0][0] = 1.0;  // makes background's normalised map non-constant
  AttentionMaskOptions options;
  options.height = 10;
  options.width = 10;
  options.morphology_kernel = 0;
  options.min_area = 0.09;  // 9 pixels
  const auto masks = masks_from_scores(scores, options);
  EXPECT_GE(masks[0].sum().item<int>(), 9);
  EXPECT_TRUE(masks[0][5][5].item<bool>());
  EXPECT_FALSE((masks[0] & masks[1]).any().item<bool>());
  EXPECT_FALSE(masks[1][0][0].item<bool>() && masks[0][0][0].item<bool>());
}

TEST(MasksFromScoresTest, MorphologyRemovesSpecks) {
  auto scores = torch::zeros({2, 12, 12});
  scores[0].fill_(0.5);
  scores[0][0][0] = 0.0;
  scores[1].slice(0, 2, 8).slice(1, 2, 8).fill_(1.0);
  scores[1][10][10] = 1.0;  // a speck
  AttentionMaskOptions options;
  options.height = 12;
  options.width = 12;
  options.min_area = 0.0;
  options.background_weight = 0.8;  // ties go to the background; let the subject win
  const auto masks = masks_from_scores(scores, options);
  EXPECT_FALSE(masks[0][10][10].item<bool>());
  EXPECT_TRUE(masks[0][4][4].item<bool>());
}

TEST(MasksTest, TokenPositionsOverlapsBottomAndImages) {
  EXPECT_EQ(find_token_positions({49406, 5, 7, 8, 5, 7, 49407}, {5, 7}), (std::vector<int>{1, 2, 4, 5}));
  EXPECT_TRUE(find_token_positions({49406, 1}, {2}).empty());
  auto a = torch::ones({2, 2}, torch::kBool);
  auto b = torch::zeros({2, 2}, torch::kBool);
  b[0][0] = true;
  const auto cleaned = remove_overlaps({a, b});
  EXPECT_FALSE(cleaned[1].any().item<bool>());
  const auto bottom = zero_bottom(torch::ones({12, 3}, torch::kBool));
  EXPECT_EQ(bottom.sum().item<int>(), 30);
  EXPECT_FALSE(bottom[10][0].item<bool>());
  const auto image = mask_to_image(b);
  EXPECT_EQ(image.channels, 1);
  EXPECT_EQ(image.pixels, (std::vector<std::uint8_t>{255, 0, 0, 0}));
  EXPECT_TRUE(torch::equal(image_to_mask(image), b));
  EXPECT_TRUE(torch::equal(resize_mask(b, 4, 4).slice(0, 0, 2).slice(1, 0, 2), torch::ones({2, 2}, torch::kBool)));
}

TEST(ImportedMasksTest, PngRoundTripAndSizeError) {
  auto mask = torch::zeros({6, 8}, torch::kBool);
  mask.slice(0, 1, 3).slice(1, 2, 5).fill_(true);
  const auto path = temp_dir() / "subject.png";
  core::write_png_atomic(path, mask_to_image(mask));
  EXPECT_TRUE(torch::equal(read_mask_png(path, 6, 8), mask));
  const auto message = input_error([&] { read_mask_png(path, 8, 8); });
  EXPECT_NE(message.find("subject.png"), std::string::npos) << message;
}

TEST(ImportedMasksTest, CocoRleAndBoxes) {
  // 3x2 mask (h=3, w=2), column-major runs: 1 off, 2 on, 1 off, 2 on →
  // column 0: [0,1,1], column 1: [0,1,1].
  const auto path = write("coco.json", R"({"masks": [
      {"subject": "Gretel", "segmentation": {"size": [3, 2], "counts": [1, 2, 1, 2]}},
      {"subject": "Hansel", "bbox": [1, 0, 1, 1]}]})");
  const auto masks = read_masks_json(path, {"Gretel", "Hansel", "Witch"}, 3, 2);
  ASSERT_EQ(masks.size(), 3u);
  EXPECT_TRUE(torch::equal(masks[0], torch::tensor({false, false, true, true, true, true}).view({3, 2})));
  EXPECT_TRUE(torch::equal(masks[1], torch::tensor({false, true, false, false, false, false}).view({3, 2})));
  EXPECT_FALSE(masks[2].any().item<bool>());
}

TEST(ImportedMasksTest, CompressedRleString) {
  // pycocotools' rleToString: runs from the fourth on are stored as differences to the
  // run two back. [1, 2, 1, 2] → '1', '2', '1', 2-2=0 → '0'.
  EXPECT_EQ(decode_rle_string("1210"), (std::vector<std::int64_t>{1, 2, 1, 2}));
  // A negative difference: [5, 3, 2, 1] → fourth stored as 1-3=-2: 5 bits of -2 = 0b11110
  // (sign bit 0x10 set, no continuation): 30 + 48 = 'N'.
  EXPECT_EQ(decode_rle_string("532N"), (std::vector<std::int64_t>{5, 3, 2, 1}));
  // Multi-char value: 40 = 8 + 32 → first char (8 | 0x20) = 40 + 48 = 'X', then 1 → '1'.
  EXPECT_EQ(decode_rle_string("X1"), (std::vector<std::int64_t>{40}));
}

TEST(ImportedMasksTest, ErrorsNameFileAndField) {
  const auto unknown = write("unknown.json", R"({"masks": [{"subject": "Nobody", "bbox": [0, 0, 1, 1]}]})");
  auto message = input_error([&] { read_masks_json(unknown, {"Gretel"}, 3, 2); });
  EXPECT_NE(message.find("masks[0].subject"), std::string::npos) << message;
  EXPECT_NE(message.find("unknown.json"), std::string::npos) << message;
  const auto short_runs = write("short.json", R"({"masks": [{"subject": "Gretel", "segmentation": {"size": [3, 2], "counts": [1, 2]}}]})");
  message = input_error([&] { read_masks_json(short_runs, {"Gretel"}, 3, 2); });
  EXPECT_NE(message.find("masks[0].segmentation.counts"), std::string::npos) << message;
  EXPECT_NE(message.find("short.json"), std::string::npos) << message;
  const auto bad_size = write("size.json", R"({"masks": [{"subject": "Gretel", "segmentation": {"size": [4, 2], "counts": [8]}}]})");
  message = input_error([&] { read_masks_json(bad_size, {"Gretel"}, 3, 2); });
  EXPECT_NE(message.find("masks[0].segmentation.size"), std::string::npos) << message;
  const auto bad_box = write("box.json", R"({"masks": [{"subject": "Gretel", "bbox": [0, 0]}]})");
  message = input_error([&] { read_masks_json(bad_box, {"Gretel"}, 3, 2); });
  EXPECT_NE(message.find("masks[0].bbox"), std::string::npos) << message;
  const auto not_json = write("broken.json", "{");
  message = input_error([&] { read_masks_json(not_json, {"Gretel"}, 3, 2); });
  EXPECT_NE(message.find("broken.json"), std::string::npos) << message;
  const auto no_masks = write("empty.json", "{}");
  message = input_error([&] { read_masks_json(no_masks, {"Gretel"}, 3, 2); });
  EXPECT_NE(message.find("masks"), std::string::npos) << message;
}

TEST(MasksFromAttentionTest, ErrorsWithoutMapsOrBadTokens) {
  EXPECT_THROW(masks_from_attention({}, 0, {{1}}), core::RunError);
  EXPECT_THROW(masks_from_attention({hand_map()}, 0, {{9}}), core::RunError);
  EXPECT_THROW(masks_from_attention({hand_map()}, 3, {{1}}), core::RunError);
}

}  // namespace
}  // namespace dsbench::masks
