#include "pipeline/diffusion/ddim_scheduler.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/errors.h"
#include "core/safetensors.h"
#include "pipeline/diffusion/weights.h"

namespace dsbench::diffusion {
namespace {

namespace fs = std::filesystem;

const fs::path kFixtures = fs::path(DSBENCH_SOURCE_DIR) / "tests" / "fixtures" / "ddim";

nlohmann::json reference() {
  std::ifstream in(kFixtures / "ddim_50_25.json");
  return nlohmann::json::parse(in);
}

TEST(DdimScheduler, FixtureNamesItsSource) {
  const auto fixture = reference();
  EXPECT_NE(fixture.at("source").get<std::string>().find("scheduling_ddim.py"), std::string::npos);
}

TEST(DdimScheduler, AlphasCumprodEqualTheReferenceBitForBit) {
  const auto fixture = reference();
  const DdimScheduler scheduler;
  const auto all = fixture.at("alphas_cumprod_all").get<std::vector<double>>();
  ASSERT_EQ(all.size(), 1000u);
  for (int t = 0; t < 1000; ++t) ASSERT_EQ(scheduler.alpha_cumprod(t), all[t]) << "t=" << t;
  EXPECT_EQ(scheduler.final_alpha_cumprod(), fixture.at("final_alpha_cumprod").get<double>());
}

TEST(DdimScheduler, TimestepsAndAlphasFor50And25StepsEqualTheReference) {
  const auto fixture = reference();
  for (const int steps : {50, 25}) {
    const auto& expected = fixture.at("schedules").at(std::to_string(steps));
    DdimScheduler scheduler;
    scheduler.set_timesteps(steps);
    EXPECT_EQ(scheduler.timesteps(), expected.at("timesteps").get<std::vector<int64_t>>());
    const auto alphas = expected.at("alphas_cumprod").get<std::vector<double>>();
    const auto previous = expected.at("prev_alphas_cumprod").get<std::vector<double>>();
    ASSERT_EQ(scheduler.timesteps().size(), alphas.size());
    for (std::size_t i = 0; i < alphas.size(); ++i) {
      const auto t = scheduler.timesteps()[i];
      EXPECT_EQ(scheduler.alpha_cumprod(t), alphas[i]);
      EXPECT_EQ(scheduler.alpha_cumprod_or_final(t - scheduler.step_ratio()), previous[i]);
    }
  }
  DdimScheduler scheduler;
  scheduler.set_timesteps(50);
  EXPECT_EQ(scheduler.timesteps().front(), 981);
  EXPECT_EQ(scheduler.timesteps().back(), 1);
}

class DdimStepTest : public ::testing::Test {
 protected:
  void SetUp() override {
    file_ = std::make_unique<core::safetensors::File>(core::safetensors::File::open(kFixtures / "ddim_io.safetensors"));
    sample_ = tensor("sample");
    output_ = tensor("model_output");
  }
  torch::Tensor tensor(const std::string& name) const { return to_tensor(file_->tensor(name)); }

  std::unique_ptr<core::safetensors::File> file_;
  torch::Tensor sample_, output_;
};

TEST_F(DdimStepTest, StepMatchesTheReference) {
  for (const auto& [steps, t] : std::vector<std::pair<int, int64_t>>{{50, 981}, {50, 501}, {50, 21}, {50, 1}, {25, 961}, {25, 1}}) {
    DdimScheduler scheduler;
    scheduler.set_timesteps(steps);
    const auto expected = tensor("step_" + std::to_string(steps) + "_" + std::to_string(t));
    const auto got = scheduler.step(output_, t, sample_);
    EXPECT_TRUE(torch::allclose(got, expected, 1e-5, 1e-5))
        << steps << " steps, t=" << t << " max diff " << (got - expected).abs().max().item<double>();
  }
}

TEST_F(DdimStepTest, InversionStepMatchesTheReference) {
  for (const auto& [steps, t] : std::vector<std::pair<int, int64_t>>{{50, 981}, {50, 501}, {50, 21}, {50, 1}, {25, 961}, {25, 1}}) {
    DdimScheduler scheduler;
    scheduler.set_timesteps(steps);
    const auto expected = tensor("inversion_" + std::to_string(steps) + "_" + std::to_string(t));
    const auto got = scheduler.inversion_step(output_, t, sample_);
    EXPECT_TRUE(torch::allclose(got, expected, 1e-5, 1e-5))
        << steps << " steps, t=" << t << " max diff " << (got - expected).abs().max().item<double>();
  }
}

TEST_F(DdimStepTest, AddNoiseMatchesTheReference) {
  const DdimScheduler scheduler;
  for (const int64_t t : {1, 500, 999}) {
    const auto expected = tensor("add_noise_" + std::to_string(t));
    EXPECT_TRUE(torch::allclose(scheduler.add_noise(sample_, output_, t), expected, 1e-6, 1e-6)) << t;
  }
}

TEST_F(DdimStepTest, InversionUndoesAStepForAFixedNoisePrediction) {
  // With the same epsilon both ways, DDIM is exactly invertible.
  DdimScheduler scheduler;
  scheduler.set_timesteps(50);
  const auto down = scheduler.step(output_, 501, sample_);
  const auto up = scheduler.inversion_step(output_, 501, down);
  EXPECT_TRUE(torch::allclose(up, sample_, 1e-4, 1e-5));
}

TEST(DdimScheduler, OtherSpacingsFollowDiffusers) {
  DdimConfig trailing;
  trailing.timestep_spacing = "trailing";
  trailing.steps_offset = 0;
  DdimScheduler a(trailing);
  a.set_timesteps(10);
  EXPECT_EQ(a.timesteps(), (std::vector<int64_t>{999, 899, 799, 699, 599, 499, 399, 299, 199, 99}));
  DdimConfig linspace = trailing;
  linspace.timestep_spacing = "linspace";
  DdimScheduler b(linspace);
  b.set_timesteps(4);
  EXPECT_EQ(b.timesteps(), (std::vector<int64_t>{999, 666, 333, 0}));
}

TEST(DdimScheduler, BadInputsAreErrors) {
  DdimScheduler scheduler;
  const auto x = torch::zeros({1, 4, 2, 2});
  EXPECT_THROW(scheduler.step(x, 981, x), core::RunError);  // no set_timesteps
  EXPECT_THROW(scheduler.set_timesteps(0), core::InputError);
  EXPECT_THROW(scheduler.set_timesteps(1001), core::InputError);
  scheduler.set_timesteps(50);
  EXPECT_THROW(scheduler.step(x, 1000, x), core::RunError);
  EXPECT_THROW(scheduler.alpha_cumprod(-1), core::RunError);
  DdimConfig bad;
  bad.beta_schedule = "cosine";
  EXPECT_THROW(DdimScheduler{bad}, core::InputError);
  bad = DdimConfig{};
  bad.timestep_spacing = "uniform";
  EXPECT_THROW(DdimScheduler{bad}, core::InputError);
  bad = DdimConfig{};
  bad.prediction_type = "noise";
  EXPECT_THROW(DdimScheduler{bad}, core::InputError);
}

}  // namespace
}  // namespace dsbench::diffusion
