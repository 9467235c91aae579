#include "pipeline/masks/masks.h"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <map>
#include <tuple>
#include <nlohmann/json.hpp>

#include "core/errors.h"
#include "core/files.h"

namespace dsbench::masks {

namespace {

torch::Tensor normalise(const torch::Tensor& map) {
  const auto low = map.min();
  const auto range = map.max() - low;
  return (map - low) / torch::clamp_min(range, 1e-12);
}

cv::Mat to_mat(const torch::Tensor& mask) {
  const auto bytes = mask.to(torch::kUInt8).mul(255).contiguous();
  cv::Mat mat(static_cast<int>(bytes.size(0)), static_cast<int>(bytes.size(1)), CV_8UC1);
  std::memcpy(mat.data, bytes.data_ptr<std::uint8_t>(), bytes.numel());
  return mat;
}

torch::Tensor from_mat(const cv::Mat& mat) {
  auto tensor = torch::empty({mat.rows, mat.cols}, torch::kUInt8);
  std::memcpy(tensor.data_ptr<std::uint8_t>(), mat.data, tensor.numel());
  return tensor > 127;
}

torch::Tensor clean_up(const torch::Tensor& mask, const AttentionMaskOptions& options) {
  if (options.morphology_kernel <= 0 || !mask.any().item<bool>()) return mask;
  const auto kernel = cv::getStructuringElement(cv::MORPH_ELLIPSE,
                                                {options.morphology_kernel, options.morphology_kernel});
  cv::Mat mat = to_mat(mask);
  cv::Mat opened;
  cv::morphologyEx(mat, opened, cv::MORPH_OPEN, kernel);
  // Opening can erase a thin subject entirely; keep the raw mask then rather than lose it.
  if (cv::countNonZero(opened) == 0) opened = mat;
  cv::Mat closed;
  cv::morphologyEx(opened, closed, cv::MORPH_CLOSE, kernel);
  return from_mat(closed);
}

torch::Tensor expand_small(const torch::Tensor& mask, const AttentionMaskOptions& options) {
  const double wanted = options.min_area * static_cast<double>(mask.numel());
  if (!mask.any().item<bool>()) return mask;
  cv::Mat mat = to_mat(mask);
  const auto kernel = cv::getStructuringElement(cv::MORPH_ELLIPSE, {3, 3});
  for (int i = 0; i < options.max_expansions && cv::countNonZero(mat) < wanted; ++i) {
    cv::Mat grown;
    cv::dilate(mat, grown, kernel);
    mat = grown;
  }
  return from_mat(mat);
}

torch::Tensor as_mask(const torch::Tensor& mask) {
  if (mask.dim() != 2) throw core::RunError("a mask must be [H, W], got " + std::to_string(mask.dim()) + " dims");
  return mask.scalar_type() == torch::kBool ? mask : mask > 0.5;
}

[[noreturn]] void bad(const std::filesystem::path& path, const std::string& field, const std::string& expected) {
  throw core::InputError(core::Location{path.string(), 0, field}, expected);
}

void check_passes(int passes, int lowest) {
  if (passes < lowest || passes > kMaxSelfAttentionPasses) {
    throw core::InputError(core::Location{"", 0, "masks.self_attention_passes"},
                           "a number of self-attention passes in " + std::to_string(lowest) + ".." +
                               std::to_string(kMaxSelfAttentionPasses) + ", got " + std::to_string(passes));
  }
}

// Coefficients c[k] of A^k in the series S(A).
std::vector<double> series_coefficients(int passes, SelfAttentionSeries series) {
  if (series == SelfAttentionSeries::kPowerMean) {
    std::vector<double> ones(static_cast<std::size_t>(passes) + 1, 1.0);
    ones[0] = 0.0;
    return ones;
  }
  std::vector<double> total{0.0, 1.0};
  std::vector<double> power{0.0, 1.0};
  for (int pass = 1; pass < passes; ++pass) {
    std::vector<double> product(power.size() + total.size() - 1, 0.0);
    for (std::size_t i = 0; i < power.size(); ++i) {
      for (std::size_t j = 0; j < total.size(); ++j) product[i + j] += power[i] * total[j];
    }
    power = std::move(product);
    total.resize(power.size(), 0.0);
    for (std::size_t i = 0; i < power.size(); ++i) total[i] += power[i];
  }
  return total;
}

// Identifies a transformer block's attention at one step and size (self and cross share it).
using BlockKey = std::tuple<int, int, int, int, int, int, int>;
BlockKey block_key(const attention::RecordedMap& map) {
  return {map.step, static_cast<int>(map.layer.block), map.layer.level, map.layer.attention, map.layer.transformer,
          map.height, map.width};
}

std::string describe(const attention::RecordedMap& map) {
  return "layer " + (map.layer.name.empty() ? "#" + std::to_string(map.layer.call_index) : map.layer.name) +
         " at step " + std::to_string(map.step) + " (" + std::to_string(map.height) + "x" + std::to_string(map.width) + ")";
}

// For every cross map, the self map of the same block (k-th with k-th).
std::vector<const attention::RecordedMap*> pair_self_maps(const std::vector<attention::RecordedMap>& maps,
                                                          const std::vector<attention::RecordedMap>& self_maps,
                                                          int passes) {
  if (self_maps.empty()) {
    throw core::RunError("masks from attention with " + std::to_string(passes) +
                         " self-attention passes need the self-attention maps, but none were recorded "
                         "(AttentionRecorder with SelfAttentionRecording enabled)");
  }
  std::map<BlockKey, std::vector<const attention::RecordedMap*>> by_block;
  for (const auto& map : self_maps) by_block[block_key(map)].push_back(&map);
  std::map<BlockKey, std::size_t> used;
  std::vector<const attention::RecordedMap*> partners;
  for (const auto& map : maps) {
    const auto key = block_key(map);
    const auto ordinal = used[key]++;
    const auto found = by_block.find(key);
    if (found == by_block.end() || ordinal >= found->second.size()) {
      throw core::RunError("no self-attention map was recorded for the cross-attention of " + describe(map) +
                           ": masks with self-attention passes need the self-attention of every recorded block");
    }
    partners.push_back(found->second[ordinal]);
  }
  return partners;
}

// The self-attention [N, N] of batch row `row` in a recorded self map.
torch::Tensor self_attention_of_row(const attention::RecordedMap& map, int row) {
  std::int64_t index = row;
  if (!map.rows.empty()) {
    const auto found = std::find(map.rows.begin(), map.rows.end(), row);
    if (found == map.rows.end()) {
      throw core::RunError("the self-attention of batch row " + std::to_string(row) + " was not recorded for " +
                           describe(map) + " (SelfAttentionRecording.rows must include it)");
    }
    index = found - map.rows.begin();
  }
  if (index < 0 || index >= map.probabilities.size(0)) {
    throw core::RunError("attention mask row " + std::to_string(row) + " is not in the self-attention of " + describe(map));
  }
  return map.probabilities[index];
}

}  // namespace

torch::Tensor refine_through_self_attention(const torch::Tensor& self_attention, const torch::Tensor& maps, int passes,
                                            SelfAttentionSeries series) {
  check_passes(passes, 1);
  const auto tokens = self_attention.dim() == 2 ? self_attention.size(0) : -1;
  if (tokens < 0 || self_attention.size(1) != tokens || maps.dim() != 2 || maps.size(1) != tokens) {
    throw core::RunError("self-attention refinement needs a square self-attention [N, N] and maps [K, N], got " +
                         std::to_string(self_attention.dim()) + "-d self-attention and " + std::to_string(maps.dim()) +
                         "-d maps of mismatched sizes");
  }
  // Powers applied to the maps (A·w repeatedly) cost N² per term instead of N³ per matrix power.
  const auto a = self_attention.to(torch::kDouble);
  auto carried = maps.to(torch::kDouble).t().contiguous();  // [N, K]
  auto sum = torch::zeros_like(carried);
  const auto coefficients = series_coefficients(passes, series);
  for (std::size_t k = 1; k < coefficients.size(); ++k) {
    carried = torch::matmul(a, carried);
    if (coefficients[k] != 0.0) sum += carried * coefficients[k];
  }
  return (sum / static_cast<double>(passes)).t().to(torch::kFloat).contiguous();
}

std::vector<int> find_token_positions(const std::vector<int>& prompt_tokens, const std::vector<int>& phrase_tokens) {
  std::vector<int> positions;
  if (phrase_tokens.empty() || phrase_tokens.size() > prompt_tokens.size()) return positions;
  for (std::size_t start = 0; start + phrase_tokens.size() <= prompt_tokens.size(); ++start) {
    if (std::equal(phrase_tokens.begin(), phrase_tokens.end(), prompt_tokens.begin() + static_cast<long>(start))) {
      for (std::size_t i = 0; i < phrase_tokens.size(); ++i) positions.push_back(static_cast<int>(start + i));
    }
  }
  return positions;
}

std::vector<torch::Tensor> masks_from_attention(const std::vector<attention::RecordedMap>& maps, int row,
                                                const std::vector<std::vector<int>>& subject_tokens,
                                                const AttentionMaskOptions& options,
                                                const std::vector<attention::RecordedMap>& self_maps) {
  if (maps.empty()) throw core::RunError("no cross-attention map was recorded: cannot build masks from attention");
  check_passes(options.self_attention_passes, 0);
  const auto partners = options.self_attention_passes > 0
                            ? pair_self_maps(maps, self_maps, options.self_attention_passes)
                            : std::vector<const attention::RecordedMap*>{};
  const auto subjects = static_cast<std::int64_t>(subject_tokens.size());
  auto sums = torch::zeros({subjects + 1, options.height, options.width}, torch::kFloat);
  for (std::size_t m = 0; m < maps.size(); ++m) {
    const auto& recorded = maps[m];
    const auto& p = recorded.probabilities;  // [B, N, M]
    if (row < 0 || row >= p.size(0)) throw core::RunError("attention mask row " + std::to_string(row) + " is not in the batch");
    const auto tokens = p.size(2);
    const auto rows = p[row].to(torch::kFloat);  // [N, M]
    std::vector<torch::Tensor> per_map;
    auto pick = [&](const std::vector<int>& positions) {
      for (const int t : positions) {
        if (t < 0 || t >= tokens) throw core::RunError("subject token " + std::to_string(t) + " is outside the prompt's " + std::to_string(tokens) + " tokens");
      }
      if (positions.empty()) return torch::zeros({rows.size(0)}, torch::kFloat);
      const auto index = torch::tensor(std::vector<std::int64_t>(positions.begin(), positions.end()), torch::kLong);
      return rows.index_select(1, index).mean(1);
    };
    per_map.push_back(pick({options.background_token}));
    for (const auto& positions : subject_tokens) per_map.push_back(pick(positions));
    auto stacked = torch::stack(per_map);  // [S + 1, N]
    if (!partners.empty()) {
      // The token pick is a linear map of the columns, so refining the picked maps equals
      // the reference's refining all 77 columns and picking afterwards.
      stacked = refine_through_self_attention(self_attention_of_row(*partners[m], row), stacked,
                                              options.self_attention_passes, options.self_attention_series);
    }
    const auto grid = stacked.view({subjects + 1, 1, recorded.height, recorded.width});
    sums += torch::nn::functional::interpolate(
                grid, torch::nn::functional::InterpolateFuncOptions()
                          .size(std::vector<std::int64_t>{options.height, options.width})
                          .mode(torch::kBilinear)
                          .align_corners(false))
                .squeeze(1);
  }
  return masks_from_scores(sums / static_cast<double>(maps.size()), options);
}

std::vector<torch::Tensor> masks_from_scores(const torch::Tensor& scores, const AttentionMaskOptions& options) {
  if (scores.dim() != 3 || scores.size(0) < 1) throw core::RunError("mask scores must be [S + 1, H, W]");
  std::vector<torch::Tensor> normalised;
  for (std::int64_t i = 0; i < scores.size(0); ++i) {
    normalised.push_back(normalise(scores[i].to(torch::kFloat)) * (i == 0 ? options.background_weight : 1.0));
  }
  const auto stacked = torch::stack(normalised);
  const auto winner = stacked.argmax(0);
  std::vector<torch::Tensor> cleaned;
  for (std::int64_t s = 1; s < scores.size(0); ++s) {
    cleaned.push_back(expand_small(clean_up(winner == s, options), options));
  }
  // Contested pixels after expansion go to the subject that scores highest there.
  std::vector<torch::Tensor> result;
  const auto subject_scores = stacked.slice(0, 1);
  auto masked = torch::full_like(subject_scores, -1.0);
  for (std::size_t s = 0; s < cleaned.size(); ++s) {
    masked[static_cast<long>(s)] = torch::where(cleaned[s], subject_scores[static_cast<long>(s)], torch::full_like(subject_scores[0], -1.0));
  }
  const auto best = masked.argmax(0);
  for (std::size_t s = 0; s < cleaned.size(); ++s) result.push_back(cleaned[s] & (best == static_cast<long>(s)));
  return result;
}

std::vector<torch::Tensor> remove_overlaps(const std::vector<torch::Tensor>& masks) {
  std::vector<torch::Tensor> result;
  torch::Tensor taken;
  for (const auto& raw : masks) {
    const auto mask = as_mask(raw);
    if (!taken.defined()) taken = torch::zeros_like(mask);
    result.push_back(mask & ~taken);
    taken = taken | mask;
  }
  return result;
}

torch::Tensor zero_bottom(const torch::Tensor& mask, double fraction) {
  auto result = as_mask(mask).clone();
  const auto rows = result.size(0);
  const auto cut = rows - static_cast<std::int64_t>(static_cast<double>(rows) * fraction);
  if (cut < rows) result.slice(0, cut).fill_(false);
  return result;
}

core::Image mask_to_image(const torch::Tensor& mask) {
  const auto bytes = as_mask(mask).to(torch::kUInt8).mul(255).contiguous();
  core::Image image(static_cast<int>(bytes.size(1)), static_cast<int>(bytes.size(0)), 1);
  std::memcpy(image.pixels.data(), bytes.data_ptr<std::uint8_t>(), image.pixels.size());
  return image;
}

torch::Tensor image_to_mask(const core::Image& image) {
  if (image.empty()) throw core::RunError("an empty image is not a mask");
  auto tensor = torch::from_blob(const_cast<std::uint8_t*>(image.pixels.data()),
                                 {image.height, image.width, image.channels}, torch::kUInt8)
                    .to(torch::kFloat);
  const int colour = std::min(image.channels, 3);
  return tensor.slice(2, 0, colour).mean(2) > 127.0;
}

torch::Tensor resize_mask(const torch::Tensor& mask, int height, int width) {
  const auto m = as_mask(mask);
  if (m.size(0) == height && m.size(1) == width) return m;
  return torch::nn::functional::interpolate(m.to(torch::kFloat).view({1, 1, m.size(0), m.size(1)}),
                                            torch::nn::functional::InterpolateFuncOptions()
                                                .size(std::vector<std::int64_t>{height, width})
                                                .mode(torch::kNearest))
             .view({height, width}) > 0.5;
}

torch::Tensor read_mask_png(const std::filesystem::path& path, int height, int width) {
  const auto image = core::read_image(path);
  if (image.height != height || image.width != width) {
    bad(path, "size", "a " + std::to_string(width) + "x" + std::to_string(height) + " mask image, got " +
                          std::to_string(image.width) + "x" + std::to_string(image.height));
  }
  return image_to_mask(image);
}

std::vector<std::int64_t> decode_rle_string(const std::string& counts, const std::string& field) {
  // pycocotools' rleFrString: 5 bits per char (+48), continuation bit 0x20, sign bit
  // 0x10 on the last char, runs from the third on stored as differences to the run two back.
  std::vector<std::int64_t> runs;
  std::size_t p = 0;
  while (p < counts.size()) {
    std::int64_t x = 0;
    int k = 0;
    bool more = true;
    while (more) {
      if (p >= counts.size()) throw core::InputError(core::Location{"", 0, field}, "a complete compressed RLE string");
      const int c = static_cast<int>(counts[p]) - 48;
      if (c < 0 || c > 63) throw core::InputError(core::Location{"", 0, field}, "RLE characters between '0' and 'o'");
      x |= static_cast<std::int64_t>(c & 0x1f) << (5 * k);
      more = (c & 0x20) != 0;
      ++p;
      ++k;
      if (!more && (c & 0x10)) x |= -1LL << (5 * k);
    }
    if (runs.size() > 2) x += runs[runs.size() - 2];
    runs.push_back(x);
  }
  return runs;
}

torch::Tensor decode_rle(const std::vector<std::int64_t>& counts, int height, int width, const std::string& field) {
  const std::int64_t total = static_cast<std::int64_t>(height) * width;
  auto flat = torch::zeros({total}, torch::kBool);  // column-major order
  std::int64_t at = 0;
  bool value = false;
  for (const auto run : counts) {
    if (run < 0 || at + run > total) {
      throw core::InputError(core::Location{"", 0, field}, "RLE runs summing to " + std::to_string(total) + " (h*w)");
    }
    if (value) flat.slice(0, at, at + run).fill_(true);
    at += run;
    value = !value;
  }
  if (at != total) throw core::InputError(core::Location{"", 0, field}, "RLE runs summing to " + std::to_string(total) + " (h*w), got " + std::to_string(at));
  return flat.view({width, height}).t().contiguous();
}

std::vector<torch::Tensor> read_masks_json(const std::filesystem::path& path, const std::vector<std::string>& subjects,
                                           int height, int width) {
  nlohmann::json document;
  try {
    document = nlohmann::json::parse(core::read_file(path));
  } catch (const nlohmann::json::exception& e) {
    bad(path, "", std::string("valid JSON (") + e.what() + ")");
  }
  if (!document.is_object() || !document.contains("masks") || !document["masks"].is_array()) {
    bad(path, "masks", "an object with a \"masks\" array");
  }
  std::vector<torch::Tensor> result(subjects.size(), torch::zeros({height, width}, torch::kBool));
  const auto& entries = document["masks"];
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const auto& entry = entries[i];
    const std::string field = "masks[" + std::to_string(i) + "]";
    if (!entry.is_object() || !entry.contains("subject") || !entry["subject"].is_string()) {
      bad(path, field + ".subject", "the subject's name as a string");
    }
    const auto name = entry["subject"].get<std::string>();
    const auto found = std::find(subjects.begin(), subjects.end(), name);
    if (found == subjects.end()) bad(path, field + ".subject", "one of the scene's subjects, got '" + name + "'");
    torch::Tensor mask;
    if (entry.contains("segmentation")) {
      const auto& segmentation = entry["segmentation"];
      const auto& size = segmentation.value("size", nlohmann::json());
      if (!size.is_array() || size.size() != 2 || !size[0].is_number_integer() || !size[1].is_number_integer()) {
        bad(path, field + ".segmentation.size", "[height, width]");
      }
      if (size[0].get<int>() != height || size[1].get<int>() != width) {
        bad(path, field + ".segmentation.size", "[" + std::to_string(height) + ", " + std::to_string(width) + "]");
      }
      const auto counts_field = field + ".segmentation.counts";
      const auto& counts = segmentation.value("counts", nlohmann::json());
      std::vector<std::int64_t> runs;
      try {
        if (counts.is_string()) {
          runs = decode_rle_string(counts.get<std::string>(), counts_field);
        } else if (counts.is_array()) {
          for (const auto& run : counts) {
            if (!run.is_number_integer()) bad(path, counts_field, "integer runs");
            runs.push_back(run.get<std::int64_t>());
          }
        } else {
          bad(path, counts_field, "a list of runs or a compressed RLE string");
        }
        mask = decode_rle(runs, height, width, counts_field);
      } catch (const core::InputError& e) {
        if (e.where().file.empty()) bad(path, counts_field, e.what());
        throw;
      }
    } else if (entry.contains("bbox")) {
      const auto& box = entry["bbox"];
      if (!box.is_array() || box.size() != 4 || !std::all_of(box.begin(), box.end(), [](const auto& v) { return v.is_number(); })) {
        bad(path, field + ".bbox", "[x, y, width, height] numbers");
      }
      const auto x0 = std::clamp(static_cast<int>(std::floor(box[0].get<double>())), 0, width);
      const auto y0 = std::clamp(static_cast<int>(std::floor(box[1].get<double>())), 0, height);
      const auto x1 = std::clamp(static_cast<int>(std::ceil(box[0].get<double>() + box[2].get<double>())), 0, width);
      const auto y1 = std::clamp(static_cast<int>(std::ceil(box[1].get<double>() + box[3].get<double>())), 0, height);
      if (box[2].get<double>() < 0 || box[3].get<double>() < 0) bad(path, field + ".bbox", "a non-negative width and height");
      mask = torch::zeros({height, width}, torch::kBool);
      mask.slice(0, y0, y1).slice(1, x0, x1).fill_(true);
    } else {
      bad(path, field, "a \"segmentation\" (COCO RLE) or a \"bbox\"");
    }
    auto& slot = result[static_cast<std::size_t>(found - subjects.begin())];
    slot = slot | mask;
  }
  return result;
}

}  // namespace dsbench::masks
