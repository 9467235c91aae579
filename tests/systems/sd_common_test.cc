#include "pipeline/systems/sd_common.h"

#include <gtest/gtest.h>

#include "core/errors.h"
#include "pipeline/attention/processor.h"

namespace dsbench::systems {
namespace {

std::string input_error(const std::function<void()>& action) {
  try {
    action();
  } catch (const core::InputError& e) {
    return e.what();
  }
  return "";
}

TEST(SystemParamsTest, ReadsTypedValuesWithDefaults) {
  const SystemParams params({{"lambda", 0.9}, {"start_layer", 36}, {"masks", false}, {"mode", "sam"},
                             {"scene_prompt", "prompt"}, {"note", "x"}},
                            "dreamstory", {"lambda", "start_layer", "masks", "mode", "scene_prompt", "note", "unused"});
  EXPECT_DOUBLE_EQ(params.number("lambda", 0.5, 0, 1), 0.9);
  EXPECT_EQ(params.integer("start_layer", 0, 0, 100), 36);
  EXPECT_FALSE(params.flag("masks", true));
  EXPECT_EQ(params.choice("mode", "attention", {"attention", "sam"}), "sam");
  EXPECT_EQ(params.scene_prompt(), ScenePromptChoice::kPrompt);
  EXPECT_EQ(params.text("note", ""), "x");
  EXPECT_TRUE(params.has("note"));
  EXPECT_FALSE(params.has("unused"));
  EXPECT_DOUBLE_EQ(params.number("unused", 0.25, 0, 1), 0.25);
  EXPECT_EQ(params.integer("unused", 3, 0, 5), 3);
  EXPECT_EQ(SystemParams(nlohmann::json(nullptr), "vanilla", {}).scene_prompt(), ScenePromptChoice::kAuto);
}

TEST(SystemParamsTest, ErrorsNameTheParameter) {
  auto message = input_error([] { SystemParams({{"lamda", 1}}, "dreamstory", {"lambda"}); });
  EXPECT_NE(message.find("system.params.lamda"), std::string::npos) << message;
  EXPECT_NE(message.find("did you mean 'lambda'"), std::string::npos) << message;
  const SystemParams params({{"lambda", 1.5}, {"layer", 2.5}, {"masks", "yes"}, {"mode", "sem"}, {"n", "3"}},
                            "dreamstory", {"lambda", "layer", "masks", "mode", "n"});
  message = input_error([&] { params.number("lambda", 0, 0, 1); });
  EXPECT_NE(message.find("system.params.lambda"), std::string::npos) << message;
  EXPECT_NE(message.find("[0, 1]"), std::string::npos) << message;
  EXPECT_FALSE(input_error([&] { params.integer("layer", 0, 0, 10); }).empty());
  EXPECT_FALSE(input_error([&] { params.flag("masks", false); }).empty());
  EXPECT_EQ(params.text("n", ""), "3");
  EXPECT_FALSE(input_error([&] { params.number("n", 0, 0, 9); }).empty());
  message = input_error([&] { params.choice("mode", "sam", {"attention", "sam"}); });
  EXPECT_NE(message.find("did you mean 'sam'"), std::string::npos) << message;
  EXPECT_FALSE(input_error([] { SystemParams(nlohmann::json::array(), "vanilla", {}); }).empty());
}

TEST(ScenePromptTest, ChoosesRewrittenWhenAsked) {
  const director::ScenePlan rewritten{"Gretel runs", {0}, "a girl runs"};
  const director::ScenePlan plain{"a house", {}, ""};
  EXPECT_EQ(choose_scene_prompt(rewritten, ScenePromptChoice::kAuto), "a girl runs");
  EXPECT_EQ(choose_scene_prompt(rewritten, ScenePromptChoice::kPrompt), "Gretel runs");
  EXPECT_EQ(choose_scene_prompt(rewritten, ScenePromptChoice::kRewritten), "a girl runs");
  EXPECT_EQ(choose_scene_prompt(plain, ScenePromptChoice::kAuto), "a house");
  EXPECT_THROW(choose_scene_prompt(plain, ScenePromptChoice::kRewritten), core::InputError);
}

TEST(SharedPipelineTest, EqualSettingsShareOnePipelineWhileItLives) {
  ModelSettings model;
  model.threads = 1;
  auto first = shared_pipeline(model);
  EXPECT_EQ(first.get(), shared_pipeline(model).get());
  model.profile = "tyni";
  const auto message = input_error([&] { shared_pipeline(model); });
  EXPECT_NE(message.find("did you mean 'tiny'"), std::string::npos) << message;
}

TEST(SamplingOptionsTest, CopiesTheSamplerSettings) {
  SamplerSettings sampler;
  sampler.steps = 20;
  sampler.guidance = 5.0;
  sampler.width = 64;
  sampler.height = 128;
  const auto options = sampling_options(sampler, "blurry");
  EXPECT_EQ(options.steps, 20);
  EXPECT_EQ(options.guidance, 5.0);
  EXPECT_EQ(options.width, 64);
  EXPECT_EQ(options.height, 128);
  EXPECT_EQ(options.negative_prompt, "blurry");
}

}  // namespace
}  // namespace dsbench::systems

namespace dsbench::systems {
namespace {

// Adds a constant to every attention output: images drawn through it differ.
class ShiftingProcessor : public attention::Processor {
 public:
  torch::Tensor attend(const attention::AttentionCall& call, const attention::AttentionLayer& layer,
                       const torch::Tensor& hidden, const torch::Tensor& context) override {
    ++calls;
    return vanilla_.attend(call, layer, hidden, context) + 0.5;
  }
  int calls = 0;

 private:
  attention::VanillaProcessor vanilla_;
};

TEST(SharedPipelineTest, VanillaAttentionIsRestoredBetweenSystems) {
  ModelSettings model;
  model.threads = 1;
  model.sampler.steps = 2;
  model.sampler.width = model.sampler.height = 64;
  const auto pipeline = shared_pipeline(model);
  const auto options = sampling_options(model.sampler);
  const auto clean = pipeline->generate({{"a lighthouse", 3}}, options).front();
  const auto shifting = std::make_shared<ShiftingProcessor>();
  {
    const VanillaAttentionRestorer restorer(*pipeline);
    pipeline->unet()->set_processor(shifting);
    pipeline->unet()->set_layer_processor(pipeline->unet()->attention_layers().back().name, shifting);
    EXPECT_FALSE(pipeline->generate({{"a lighthouse", 3}}, options).front() == clean);
    EXPECT_GT(shifting->calls, 0);
  }
  const int calls = shifting->calls;
  EXPECT_TRUE(pipeline->generate({{"a lighthouse", 3}}, options).front() == clean);
  EXPECT_EQ(shifting->calls, calls);
  // vanilla resets whatever a previous system left behind.
  pipeline->unet()->set_processor(shifting);
  const director::StoryPlan story{"s", {{"Ann", "woman", "a lighthouse", "a woman"}}, {}};
  const auto vanilla = create_system("vanilla", nlohmann::json::object(), model);
  EXPECT_TRUE(vanilla->portrait({&story, 0, 3}).image == clean);
  EXPECT_EQ(shifting->calls, calls);
}

}  // namespace
}  // namespace dsbench::systems
