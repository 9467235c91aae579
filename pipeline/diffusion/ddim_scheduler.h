// DDIM (Song et al. 2020) with eta = 0, reproducing diffusers' DDIMScheduler values
// exactly (betas, alphas_cumprod, timestep spacing), and DDIM inversion.
// Reference: diffusers src/diffusers/schedulers/scheduling_ddim.py; fixture
// tests/fixtures/ddim/ddim_50_25.json names the commit.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

namespace dsbench::diffusion {

struct DdimConfig {
  int train_steps = 1000;
  double beta_start = 0.00085;
  double beta_end = 0.012;
  std::string beta_schedule = "scaled_linear";  // | "linear" | "squaredcos_cap_v2"
  std::string timestep_spacing = "leading";     // | "trailing" | "linspace"
  int steps_offset = 1;
  bool set_alpha_to_one = false;
  std::string prediction_type = "epsilon";  // | "v_prediction" | "sample"
  bool clip_sample = false;
  double clip_sample_range = 1.0;
};

class DdimScheduler {
 public:
  // InputError for an unknown schedule/spacing/prediction type or bad numbers.
  explicit DdimScheduler(DdimConfig config = {});

  // Inference timesteps, descending. InputError unless 1 <= steps <= train_steps.
  void set_timesteps(int steps);
  const std::vector<int64_t>& timesteps() const { return timesteps_; }
  int num_inference_steps() const { return inference_steps_; }
  // train_steps / inference steps (diffusers' integer step ratio).
  int64_t step_ratio() const;

  // alphas_cumprod as diffusers computes it (float32 cumprod of float32 alphas), widened.
  double alpha_cumprod(int64_t t) const;
  const std::vector<float>& alphas_cumprod() const { return alphas_cumprod_; }
  double final_alpha_cumprod() const;
  // alpha_cumprod(t) for t >= 0, final_alpha_cumprod() for t < 0 (diffusers' rule).
  double alpha_cumprod_or_final(int64_t t) const;

  // x_t -> x_{t - step_ratio} (eta = 0). RunError if set_timesteps was not called.
  torch::Tensor step(const torch::Tensor& model_output, int64_t timestep, const torch::Tensor& sample) const;
  // DDIM inversion as in null-text inversion's next_step: `sample` is at timestep
  // (timestep - step_ratio) (x_0 side with final_alpha_cumprod when negative), the model
  // output was computed at `timestep`, the result is at `timestep`. Call it with the
  // timesteps in ascending order.
  torch::Tensor inversion_step(const torch::Tensor& model_output, int64_t timestep, const torch::Tensor& sample) const;
  // sqrt(a_t) x_0 + sqrt(1 - a_t) noise.
  torch::Tensor add_noise(const torch::Tensor& original, const torch::Tensor& noise, int64_t timestep) const;

  double init_noise_sigma() const { return 1.0; }
  const DdimConfig& config() const { return config_; }

 private:
  torch::Tensor predicted_original_and_epsilon(const torch::Tensor& model_output, const torch::Tensor& sample,
                                               double alpha_prod_t, torch::Tensor& epsilon) const;
  void check_timestep(int64_t t, const char* what) const;

  DdimConfig config_;
  std::vector<float> alphas_cumprod_;
  std::vector<int64_t> timesteps_;
  int inference_steps_ = 0;
};

}  // namespace dsbench::diffusion
