// Dense vs grouped MMSA/MMCA agree on random inputs and masks; no subject leaks into
// another; background rows are plain scene attention; mask utilities are deterministic.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/errors.h"
#include "pipeline/attention/kernels.h"

namespace dsbench::attention {
namespace {

struct Case {
  torch::Tensor q, scene_k, scene_v, portrait_k, portrait_v, target, source;
};

enum class MaskKind { kRandom, kDisjoint, kEmpty, kFull };

torch::Tensor masks(std::int64_t subjects, std::int64_t tokens, MaskKind kind) {
  switch (kind) {
    case MaskKind::kEmpty: return torch::zeros({subjects, tokens}, torch::kBool);
    case MaskKind::kFull: return torch::ones({subjects, tokens}, torch::kBool);
    case MaskKind::kDisjoint: {
      const auto owner = torch::randint(0, subjects + 1, {tokens});  // subjects = background
      return owner.unsqueeze(0) == torch::arange(subjects).unsqueeze(1);
    }
    case MaskKind::kRandom: break;
  }
  return torch::rand({subjects, tokens}) < 0.35;  // overlapping
}

Case make_case(std::int64_t subjects, std::int64_t tokens, std::int64_t portrait_tokens, MaskKind kind,
               std::int64_t heads = 2, std::int64_t head_dim = 8) {
  Case c;
  c.q = torch::randn({heads, tokens, head_dim});
  c.scene_k = torch::randn({heads, tokens, head_dim});
  c.scene_v = torch::randn({heads, tokens, head_dim});
  c.portrait_k = torch::randn({subjects, heads, portrait_tokens, head_dim});
  c.portrait_v = torch::randn({subjects, heads, portrait_tokens, head_dim});
  c.target = masks(subjects, tokens, kind);
  c.source = masks(subjects, portrait_tokens, kind == MaskKind::kDisjoint ? MaskKind::kRandom : kind);
  return c;
}

torch::Tensor dense(const Case& c) {
  return mmsa_dense(c.q, c.scene_k, c.scene_v, c.portrait_k, c.portrait_v, c.target, c.source);
}
torch::Tensor grouped(const Case& c, GroupedOptions options = {7, 13}) {  // odd blocks: many partial blocks
  return mmsa_grouped(c.q, c.scene_k, c.scene_v, c.portrait_k, c.portrait_v, c.target, c.source, options);
}

double max_difference(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>();
}

TEST(Mmsa, GroupedMatchesDenseOverSubjectCountsAndMaskKinds) {
  torch::manual_seed(1);
  for (const auto kind : {MaskKind::kRandom, MaskKind::kDisjoint, MaskKind::kEmpty, MaskKind::kFull}) {
    for (std::int64_t subjects = 1; subjects <= 8; ++subjects) {
      for (const auto tokens : {std::int64_t{16}, std::int64_t{64}, std::int64_t{96}}) {
        const auto c = make_case(subjects, tokens, tokens, kind);
        EXPECT_LT(max_difference(dense(c), grouped(c)), 1e-5)
            << "S=" << subjects << " N=" << tokens << " kind=" << static_cast<int>(kind);
      }
    }
  }
}

TEST(Mmsa, GroupedMatchesDenseWithDefaultBlocksAndOtherPortraitSize) {
  torch::manual_seed(2);
  const auto c = make_case(3, 300, 120, MaskKind::kRandom, 4, 16);
  EXPECT_LT(max_difference(dense(c), grouped(c, {})), 1e-5);
  EXPECT_LT(max_difference(dense(c), grouped(c, {64, 50})), 1e-5);
}

TEST(Mmsa, GroupedMatchesDenseAtALevelSizeWithHeadDim64) {
  torch::manual_seed(9);
  const auto c = make_case(4, 1024, 1024, MaskKind::kRandom, 2, 64);
  EXPECT_LT(max_difference(dense(c), grouped(c, {})), 1e-5);
}

TEST(Mmsa, OneSubjectEmptyOthersNot) {
  torch::manual_seed(3);
  auto c = make_case(4, 64, 64, MaskKind::kRandom);
  c.target[2].fill_(false);
  c.source[1].fill_(false);
  EXPECT_LT(max_difference(dense(c), grouped(c)), 1e-5);
}

TEST(Mmsa, ChangingPortraitValuesLeaksIntoNoOtherSubjectOrBackground) {
  torch::manual_seed(4);
  for (const auto implementation : {0, 1}) {
    const auto c = make_case(4, 80, 80, MaskKind::kRandom);
    const auto run = [&](const Case& x) { return implementation == 0 ? dense(x) : grouped(x); };
    const auto before = run(c);
    const int changed_subject = 2;
    auto changed = c;
    changed.portrait_v = c.portrait_v.clone();
    changed.portrait_v[changed_subject].add_(torch::randn_like(c.portrait_v[changed_subject]) * 10);
    changed.portrait_k = c.portrait_k.clone();
    changed.portrait_k[changed_subject].add_(torch::randn_like(c.portrait_k[changed_subject]));
    const auto after = run(changed);
    const auto row_changed = (after - before).abs().amax({0, 2}) > 1e-6;  // [N]
    const auto inside_changed = c.target[changed_subject];
    // Only rows covered by the changed subject may change, and those rows do change.
    EXPECT_FALSE((row_changed & inside_changed.logical_not()).any().item<bool>()) << implementation;
    EXPECT_TRUE(row_changed.any().item<bool>());
  }
}

TEST(Mmsa, BackgroundRowsAreSceneSelfAttention) {
  torch::manual_seed(5);
  const auto c = make_case(3, 64, 64, MaskKind::kDisjoint);
  const auto background = c.target.any(0).logical_not();
  ASSERT_TRUE(background.any().item<bool>());
  const auto plain = plain_attention(c.q, c.scene_k, c.scene_v);
  const auto rows = torch::nonzero(background).squeeze(1);
  EXPECT_LT(max_difference(grouped(c).index_select(1, rows), plain.index_select(1, rows)), 1e-6);
  EXPECT_LT(max_difference(dense(c).index_select(1, rows), plain.index_select(1, rows)), 1e-6);
}

TEST(Mmsa, SubjectRowsSeeTheirPortraitSubjectTokens) {
  // One subject covering everything with a full source mask: MMSA is attention over
  // [scene; portrait], computed independently here.
  torch::manual_seed(6);
  const auto c = make_case(1, 32, 32, MaskKind::kFull);
  const auto keys = torch::cat({c.scene_k, c.portrait_k[0]}, 1);
  const auto values = torch::cat({c.scene_v, c.portrait_v[0]}, 1);
  EXPECT_LT(max_difference(grouped(c), plain_attention(c.q, keys, values)), 1e-5);
}

TEST(Mmsa, RejectsMismatchedShapes) {
  const auto c = make_case(2, 16, 16, MaskKind::kRandom);
  EXPECT_THROW(mmsa_grouped(c.q, c.scene_k, c.scene_v, c.portrait_k, c.portrait_v, c.target.to(torch::kFloat), c.source),
               core::InputError);
  EXPECT_THROW(mmsa_dense(c.q, c.scene_k, c.scene_v, c.portrait_k, c.portrait_v, c.target, c.source.narrow(0, 0, 1)),
               core::InputError);
  EXPECT_THROW(mmsa_dense(c.q, c.scene_k.narrow(1, 0, 8), c.scene_v, c.portrait_k, c.portrait_v, c.target, c.source),
               core::InputError);
}

TEST(Mmca, GroupedMatchesDense) {
  torch::manual_seed(7);
  for (const auto kind : {MaskKind::kRandom, MaskKind::kDisjoint, MaskKind::kEmpty, MaskKind::kFull}) {
    for (std::int64_t subjects = 1; subjects <= 8; ++subjects) {
      const auto q = torch::randn({2, 50, 8});
      const auto text_k = torch::randn({subjects, 2, 77, 8});
      const auto text_v = torch::randn({subjects, 2, 77, 8});
      const auto target = masks(subjects, 50, kind);
      EXPECT_LT(max_difference(mmca_dense(q, text_k, text_v, target), mmca_grouped(q, text_k, text_v, target)), 1e-5);
    }
  }
}

TEST(Mmca, IsTheMeanOfCoveringSubjectsCrossAttention) {
  torch::manual_seed(8);
  const auto q = torch::randn({2, 6, 8});
  const auto text_k = torch::randn({2, 2, 5, 8});
  const auto text_v = torch::randn({2, 2, 5, 8});
  const auto target = torch::tensor({1, 1, 0, 0, 1, 0, 0, 1, 1, 0, 0, 0}, torch::kBool).view({2, 6});
  const auto out = mmca_grouped(q, text_k, text_v, target);
  const auto a0 = plain_attention(q, text_k[0], text_v[0]);
  const auto a1 = plain_attention(q, text_k[1], text_v[1]);
  EXPECT_LT(max_difference(out.select(1, 0), a0.select(1, 0)), 1e-6);              // subject 0 only
  EXPECT_LT(max_difference(out.select(1, 1), (a0.select(1, 1) + a1.select(1, 1)) / 2), 1e-6);  // both
  EXPECT_LT(max_difference(out.select(1, 2), a1.select(1, 2)), 1e-6);              // subject 1 only
  EXPECT_EQ(out.select(1, 5).abs().max().item<float>(), 0.0f);                     // background
}

TEST(Mmca, BlendKeepsVanillaOutsideMasks) {
  const auto vanilla = torch::ones({4, 3});
  const auto mmca = torch::full({4, 3}, 3.0);
  const auto target = torch::tensor({1, 0, 0, 1, 0, 0, 0, 1}, torch::kBool).view({2, 4});
  const auto out = mmca_blend(vanilla, mmca, target, 0.9);
  EXPECT_NEAR(out[0][0].item<float>(), 0.1 + 2.7, 1e-6);
  EXPECT_NEAR(out[1][0].item<float>(), 1.0, 1e-6);
  EXPECT_NEAR(out[3][2].item<float>(), 2.8, 1e-6);
  EXPECT_THROW(mmca_blend(vanilla, mmca.narrow(0, 0, 2), target, 0.9), core::InputError);
}

TEST(Masks, ResizeIsBilinearThenHalfThreshold) {
  auto image = torch::zeros({8, 8});
  image.narrow(0, 0, 4).narrow(1, 0, 4).fill_(1.0);  // top-left quarter
  const auto small = resize_mask(image, 2, 2);
  EXPECT_TRUE(torch::equal(small, torch::tensor({1, 0, 0, 0}, torch::kBool)));
  const auto same = resize_mask(image, 8, 8);
  EXPECT_TRUE(torch::equal(same, image.flatten().to(torch::kBool)));
  // No antialiasing (as torch's interpolate): at 4× downsampling output column 0 samples
  // input x = 1.5, so a stripe at column 0 vanishes and one at column 1 blends to 0.5, kept.
  auto stripe = torch::zeros({8, 8});
  stripe.select(1, 0).fill_(1.0);
  EXPECT_FALSE(resize_mask(stripe, 2, 2).any().item<bool>());
  stripe.select(1, 1).fill_(1.0);
  EXPECT_TRUE(torch::equal(resize_mask(stripe, 2, 2), torch::tensor({1, 0, 1, 0}, torch::kBool)));
  EXPECT_THROW(resize_mask(torch::zeros({8}), 2, 2), core::InputError);
}

TEST(Masks, DropoutIsSeededKeepsAboutOneMinusPAndNeverDropsAll) {
  const auto mask = torch::ones({4000}, torch::kBool);
  const auto a = drop_mask_tokens(mask, 0.5, 42);
  const auto b = drop_mask_tokens(mask, 0.5, 42);
  const auto c = drop_mask_tokens(mask, 0.5, 43);
  EXPECT_TRUE(torch::equal(a, b));
  EXPECT_FALSE(torch::equal(a, c));
  EXPECT_NEAR(a.sum().item<double>() / 4000.0, 0.5, 0.05);
  // Dropped tokens were true before; false tokens stay false.
  const auto half = torch::arange(4000) < 2000;
  EXPECT_FALSE((drop_mask_tokens(half, 0.3, 1) & half.logical_not()).any().item<bool>());
  // With p = 1 every token would go: the mask comes back whole.
  const auto single = torch::zeros({10}, torch::kBool).index_fill_(0, torch::tensor({3}), true);
  for (std::uint64_t seed = 0; seed < 20; ++seed) {
    EXPECT_TRUE(torch::equal(drop_mask_tokens(single, 0.9, seed).logical_and(single), single) ||
                drop_mask_tokens(single, 0.9, seed).any().item<bool>());
    EXPECT_TRUE(drop_mask_tokens(single, 1.0, seed).any().item<bool>());
  }
  EXPECT_TRUE(torch::equal(drop_mask_tokens(mask, 0.0, 1), mask));
  EXPECT_THROW(drop_mask_tokens(mask, 1.5, 1), core::InputError);
}

TEST(Accounting, UsefulFlopsCountOnlyAllowedPairs) {
  const auto target = torch::tensor({1, 1, 0, 0}, torch::kBool).view({1, 4});
  const auto source = torch::tensor({1, 0, 0}, torch::kBool).view({1, 3});
  // 4·4 scene pairs + 2 targets × 1 source = 18 pairs, × 4·d·H.
  EXPECT_DOUBLE_EQ(mmsa_useful_flops(2, 8, target, source, 4), 18.0 * 4 * 8 * 2);
  EXPECT_DOUBLE_EQ(mmca_useful_flops(2, 8, 77, target), 2.0 * 77 * 4 * 8 * 2);
}

}  // namespace
}  // namespace dsbench::attention
