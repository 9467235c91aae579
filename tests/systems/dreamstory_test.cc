// DreamStory and the two baselines on the tiny profile (random weights, 64x64, 2 steps):
// determinism, masks as non-overlapping side images, retries bounded and counted,
// ablation switches reaching the MSD processor, params errors.
#include "pipeline/systems/dreamstory.h"

#include <gtest/gtest.h>

#include "core/errors.h"
#include "pipeline/masks/masks.h"
#include "pipeline/systems/registry.h"

namespace dsbench::systems {
namespace {

ModelSettings tiny_model() {
  ModelSettings model;
  model.profile = "tiny";
  model.threads = 1;
  model.sampler.steps = 2;
  model.sampler.width = 64;
  model.sampler.height = 64;
  return model;
}

director::StoryPlan two_subject_plan() {
  director::StoryPlan story;
  story.story_id = "two-subjects";
  story.subjects = {{"Gretel", "girl", "a girl with red braids, portrait", "a red-braided girl"},
                    {"Rex", "dog", "a brown dog, portrait", "a brown dog"}};
  story.scenes = {{"Gretel and Rex walk into the forest", {0, 1}, "a girl and a dog walk into the forest"},
                  {"a gingerbread house in a clearing", {}, ""}};
  return story;
}

std::vector<Portrait> portraits(System& system, const director::StoryPlan& story) {
  std::vector<Portrait> drawn;
  for (int subject = 0; subject < static_cast<int>(story.subjects.size()); ++subject) {
    auto output = system.portrait({&story, subject, 100u + static_cast<std::uint64_t>(subject)});
    drawn.push_back({subject, output.image, output.side_images});
  }
  return drawn;
}

std::vector<const SideImage*> side_images_of_kind(const SystemOutput& output, const std::string& kind) {
  std::vector<const SideImage*> found;
  for (const auto& side : output.side_images)
    if (side.kind == kind) found.push_back(&side);
  return found;
}

TEST(DreamStoryTest, ScenesAreDeterministicWithNonOverlappingMasks) {
  auto system = create_system("dreamstory", nlohmann::json::object(), tiny_model());
  EXPECT_EQ(system->name(), "dreamstory");
  const auto story = two_subject_plan();
  const auto drawn = portraits(*system, story);
  const SceneRequest request{&story, 0, 7, drawn};
  const auto first = system->scene(request);
  const auto second = system->scene(request);
  EXPECT_EQ(first.image.width, 64);
  EXPECT_TRUE(first.image == second.image);
  EXPECT_EQ(first.info["prompt"], "a girl and a dog walk into the forest");
  EXPECT_LE(first.info["retries"].get<int>(), 20);
  EXPECT_EQ(first.info["retries"], second.info["retries"]);

  const auto masks = side_images_of_kind(first, "mask");
  ASSERT_EQ(masks.size(), 2u);
  EXPECT_EQ(masks[0]->name, "target_mask_00");
  EXPECT_EQ(masks[1]->name, "target_mask_01");
  const auto a = masks::image_to_mask(masks[0]->image);
  const auto b = masks::image_to_mask(masks[1]->image);
  EXPECT_EQ(a.size(0), 64);
  EXPECT_FALSE((a & b).any().item<bool>());
  EXPECT_EQ(side_images_of_kind(first, "rehearsal").size(), 1u);

  // A different seed draws a different scene.
  EXPECT_FALSE(system->scene({&story, 0, 8, drawn}).image == first.image);
  // Without subjects the scene is a plain image.
  EXPECT_TRUE(system->scene({&story, 1, 7, drawn}).side_images.empty());
}

TEST(DreamStoryTest, PortraitsCarryTheirSubjectMask) {
  auto system = create_system("dreamstory", nlohmann::json::object(), tiny_model());
  const auto story = two_subject_plan();
  const auto output = system->portrait({&story, 1, 3});
  const auto masks = side_images_of_kind(output, "mask");
  ASSERT_EQ(masks.size(), 1u);
  EXPECT_EQ(masks[0]->name, "mask_01");
  EXPECT_TRUE(output.image == system->portrait({&story, 1, 3}).image);
}

TEST(DreamStoryTest, AblationsChangeWhatRuns) {
  const auto story = two_subject_plan();
  auto full = create_system("dreamstory", nlohmann::json::object(), tiny_model());
  const auto drawn = portraits(*full, story);
  const SceneRequest request{&story, 0, 7, drawn};
  const auto reference = full->scene(request);
  const auto* dreamstory = dynamic_cast<DreamStorySystem*>(full.get());
  ASSERT_NE(dreamstory, nullptr);
  const auto msd = dreamstory->msd_options(7);
  EXPECT_TRUE(msd.enable_mmsa && msd.enable_mmca && msd.use_masks);
  EXPECT_DOUBLE_EQ(msd.dropout, 0.5);
  EXPECT_DOUBLE_EQ(msd.lambda, 0.9);

  for (const std::string type : {"dreamstory-no-mmsa", "dreamstory-no-mmca", "dreamstory-no-masks"}) {
    auto variant = create_system(type, nlohmann::json::object(), tiny_model());
    EXPECT_EQ(variant->name(), type);
    const auto options = dynamic_cast<DreamStorySystem&>(*variant).msd_options(7);
    EXPECT_EQ(options.enable_mmsa, type != "dreamstory-no-mmsa") << type;
    EXPECT_EQ(options.enable_mmca, type != "dreamstory-no-mmca") << type;
    EXPECT_EQ(options.use_masks, type != "dreamstory-no-masks") << type;
    const auto output = variant->scene(request);
    EXPECT_EQ(output.info["mmsa"], options.enable_mmsa);
    EXPECT_EQ(output.info["masks"], options.use_masks);
    if (type == "dreamstory-no-masks") EXPECT_TRUE(side_images_of_kind(output, "mask").empty());
    EXPECT_FALSE(output.image == reference.image) << type << " drew the same scene as dreamstory";
  }
  auto no_rewrite = create_system("dreamstory-no-rewrite", nlohmann::json::object(), tiny_model());
  EXPECT_EQ(no_rewrite->scene(request).info["prompt"], "Gretel and Rex walk into the forest");
}

TEST(DreamStoryTest, ParamsHaveDefaultsAndErrorsNameTheField) {
  const auto defaults = DreamStoryParams::parse(nlohmann::json::object());
  EXPECT_EQ(defaults.start_step, 0);
  EXPECT_EQ(defaults.start_layer, -1);
  EXPECT_EQ(defaults.max_retries, 20);
  EXPECT_EQ(defaults.kernel, attention::KernelChoice::kGrouped);
  const auto set = DreamStoryParams::parse({{"kernel", "dense"}, {"lambda", 0.5}, {"start_layer", 3}});
  EXPECT_EQ(set.kernel, attention::KernelChoice::kDense);
  EXPECT_DOUBLE_EQ(set.lambda, 0.5);
  EXPECT_EQ(set.start_layer, 3);
  const auto message = [](const nlohmann::json& params, const std::string& type) -> std::string {
    try {
      DreamStoryParams::parse(params, type);
    } catch (const core::InputError& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_NE(message({{"dropout", 1.5}}, "dreamstory").find("system.params.dropout"), std::string::npos);
  EXPECT_NE(message({{"kernel", "grouped2"}}, "dreamstory").find("grouped"), std::string::npos);
  EXPECT_NE(message({{"mmsa", true}}, "dreamstory-no-mmsa").find("system.params.mmsa"), std::string::npos);
  EXPECT_NE(message({{"lamda", 0.5}}, "dreamstory").find("lambda"), std::string::npos);
}

// mask_self_attention (default on, as the reference's masks without a segmenter): the
// rehearsal's target masks go through the scene row's self-attention; source masks do not.
TEST(DreamStoryTest, MaskSelfAttentionRefinesTargetMasksOnly) {
  EXPECT_TRUE(DreamStoryParams::parse(nlohmann::json::object()).mask_self_attention);
  EXPECT_FALSE(DreamStoryParams::parse({{"mask_self_attention", false}}).mask_self_attention);
  try {
    DreamStoryParams::parse({{"mask_self_attention", "yes"}});
    FAIL() << "a string was accepted as mask_self_attention";
  } catch (const core::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("system.params.mask_self_attention"), std::string::npos) << e.what();
  }

  const auto story = two_subject_plan();
  // No retries: both draw the same rehearsal, so only the masks' maths differs.
  auto on = create_system("dreamstory", {{"max_retries", 0}}, tiny_model());
  auto off = create_system("dreamstory", {{"max_retries", 0}, {"mask_self_attention", false}}, tiny_model());
  const auto drawn = portraits(*on, story);
  const SceneRequest request{&story, 0, 7, drawn};
  const auto refined = on->scene(request);
  const auto plain = off->scene(request);
  EXPECT_EQ(refined.info["mask_self_attention"], true);
  EXPECT_EQ(plain.info["mask_self_attention"], false);
  EXPECT_TRUE(on->scene(request).image == refined.image);  // still deterministic
  const auto targets_on = side_images_of_kind(refined, "mask");
  const auto targets_off = side_images_of_kind(plain, "mask");
  ASSERT_EQ(targets_on.size(), 2u);
  ASSERT_EQ(targets_off.size(), 2u);
  const auto a = masks::image_to_mask(targets_on[0]->image);
  const auto b = masks::image_to_mask(targets_on[1]->image);
  EXPECT_FALSE((a & b).any().item<bool>());
  bool any_target_differs = false;
  for (std::size_t i = 0; i < 2; ++i) {
    any_target_differs |= !(targets_on[i]->image == targets_off[i]->image);
  }
  EXPECT_TRUE(any_target_differs) << "the self-attention pass left both target masks unchanged";
  const auto sources_on = side_images_of_kind(refined, "source_mask");
  const auto sources_off = side_images_of_kind(plain, "source_mask");
  ASSERT_EQ(sources_on.size(), 2u);
  ASSERT_EQ(sources_off.size(), 2u);
  // Recording self-attention leaves the rehearsal as it was; sources are cross-attention only.
  EXPECT_TRUE(side_images_of_kind(refined, "rehearsal")[0]->image == side_images_of_kind(plain, "rehearsal")[0]->image);
  for (std::size_t i = 0; i < 2; ++i) EXPECT_TRUE(sources_on[i]->image == sources_off[i]->image) << i;
  // Without masks there is no rehearsal and nothing to refine.
  auto no_masks = create_system("dreamstory-no-masks", nlohmann::json::object(), tiny_model());
  EXPECT_EQ(no_masks->scene(request).info["mask_self_attention"], false);
}

TEST(DreamStoryTest, MissingPortraitIsARunError) {
  auto system = create_system("dreamstory", nlohmann::json::object(), tiny_model());
  const auto story = two_subject_plan();
  auto drawn = portraits(*system, story);
  drawn.pop_back();
  EXPECT_THROW(system->scene({&story, 0, 7, drawn}), core::RunError);
}

TEST(BaselinesTest, StoryDiffusionAndConsiStoryAreDeterministic) {
  const auto story = two_subject_plan();
  for (const std::string type : {"storydiffusion", "consistory"}) {
    auto system = create_system(type, nlohmann::json::object(), tiny_model());
    EXPECT_EQ(system->name(), type);
    const auto drawn = portraits(*system, story);
    const SceneRequest request{&story, 0, 7, drawn};
    const auto first = system->scene(request);
    EXPECT_EQ(first.image.width, 64) << type;
    EXPECT_TRUE(first.image == system->scene(request).image) << type;
  }
  EXPECT_THROW(create_system("storydiffusion", {{"sample_rate", 2}}, tiny_model()), core::InputError);
  EXPECT_THROW(create_system("consistory", {{"mask_dropot", 0.5}}, tiny_model()), core::InputError);
}

}  // namespace
}  // namespace dsbench::systems
