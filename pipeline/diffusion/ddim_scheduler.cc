#include "pipeline/diffusion/ddim_scheduler.h"

#include <cmath>

#include "core/errors.h"

namespace dsbench::diffusion {

namespace {

core::InputError config_error(const std::string& field, const std::string& expected) {
  return core::InputError(core::Location{"", 0, "scheduler." + field}, expected);
}

// Glide's cosine schedule, betas capped at 0.999 (diffusers' betas_for_alpha_bar).
torch::Tensor cosine_betas(int steps) {
  const auto alpha_bar = [](double t) {
    const double c = std::cos((t + 0.008) / 1.008 * M_PI / 2);
    return c * c;
  };
  std::vector<double> betas;
  for (int i = 0; i < steps; ++i) {
    const double t1 = static_cast<double>(i) / steps;
    const double t2 = static_cast<double>(i + 1) / steps;
    betas.push_back(std::min(1 - alpha_bar(t2) / alpha_bar(t1), 0.999));
  }
  return torch::tensor(betas, torch::kFloat64).to(torch::kFloat32);
}

// Betas exactly as diffusers computes them: float32 linspace (of square roots for
// scaled_linear, then squared). The same torch ops give the same bits as the reference.
torch::Tensor make_betas(const DdimConfig& config) {
  if (config.beta_schedule == "linear") {
    return torch::linspace(config.beta_start, config.beta_end, config.train_steps, torch::kFloat32);
  }
  if (config.beta_schedule == "scaled_linear") {
    return torch::linspace(std::pow(config.beta_start, 0.5), std::pow(config.beta_end, 0.5), config.train_steps,
                           torch::kFloat32)
        .pow(2);
  }
  if (config.beta_schedule == "squaredcos_cap_v2") return cosine_betas(config.train_steps);
  throw config_error("beta_schedule", "one of linear, scaled_linear, squaredcos_cap_v2, got '" +
                                          config.beta_schedule + "'");
}

void validate(const DdimConfig& config) {
  if (config.train_steps < 1) {
    throw config_error("train_steps", "a positive number of training steps, got " +
                                          std::to_string(config.train_steps));
  }
  if (!(config.beta_start > 0 && config.beta_end >= config.beta_start && config.beta_end < 1)) {
    throw config_error("beta_start", "0 < beta_start <= beta_end < 1");
  }
  if (config.timestep_spacing != "leading" && config.timestep_spacing != "trailing" &&
      config.timestep_spacing != "linspace") {
    throw config_error("timestep_spacing",
                       "one of leading, trailing, linspace, got '" + config.timestep_spacing + "'");
  }
  if (config.prediction_type != "epsilon" && config.prediction_type != "v_prediction" &&
      config.prediction_type != "sample") {
    throw config_error("prediction_type",
                       "one of epsilon, v_prediction, sample, got '" + config.prediction_type + "'");
  }
  if (config.steps_offset < 0) throw config_error("steps_offset", "a non-negative offset");
}

}  // namespace

DdimScheduler::DdimScheduler(DdimConfig config) : config_(std::move(config)) {
  validate(config_);
  const auto alphas = 1.0 - make_betas(config_);
  // torch's CPU cumprod accumulates float32 in double, as the reference (same torch op).
  const auto cumprod = torch::cumprod(alphas, 0).contiguous();
  alphas_cumprod_.assign(cumprod.data_ptr<float>(), cumprod.data_ptr<float>() + cumprod.numel());
}

void DdimScheduler::set_timesteps(int steps) {
  if (steps < 1 || steps > config_.train_steps) {
    throw config_error("steps", "between 1 and " + std::to_string(config_.train_steps) + " inference steps, got " +
                                    std::to_string(steps));
  }
  inference_steps_ = steps;
  timesteps_.clear();
  const int train = config_.train_steps;
  if (config_.timestep_spacing == "leading") {
    const int64_t ratio = train / steps;
    for (int i = steps - 1; i >= 0; --i) timesteps_.push_back(i * ratio + config_.steps_offset);
  } else if (config_.timestep_spacing == "trailing") {
    // np.round(np.arange(train, 0, -train/steps)) - 1; arange accumulates start + i*step.
    const double ratio = static_cast<double>(train) / steps;
    const auto count = static_cast<int>(std::ceil(train / ratio));  // numpy's arange length
    for (int i = 0; i < count; ++i) {
      timesteps_.push_back(static_cast<int64_t>(std::nearbyint(train + i * -ratio)) - 1);
    }
  } else {  // linspace: np.linspace(0, train-1, steps).round()[::-1]
    for (int i = steps - 1; i >= 0; --i) {
      const double value = steps == 1 ? 0.0 : (train - 1) * (static_cast<double>(i) / (steps - 1));
      timesteps_.push_back(static_cast<int64_t>(std::nearbyint(value)));
    }
  }
}

int64_t DdimScheduler::step_ratio() const {
  if (inference_steps_ == 0) throw core::RunError("DDIM scheduler: set_timesteps must be called before stepping");
  return config_.train_steps / inference_steps_;
}

void DdimScheduler::check_timestep(int64_t t, const char* what) const {
  if (t < 0 || t >= config_.train_steps) {
    throw core::RunError(std::string("DDIM scheduler: ") + what + " timestep " + std::to_string(t) +
                         " outside [0, " + std::to_string(config_.train_steps) + ")");
  }
}

double DdimScheduler::alpha_cumprod(int64_t t) const {
  check_timestep(t, "alpha_cumprod");
  return alphas_cumprod_[static_cast<std::size_t>(t)];
}

double DdimScheduler::final_alpha_cumprod() const {
  return config_.set_alpha_to_one ? 1.0 : static_cast<double>(alphas_cumprod_.front());
}

double DdimScheduler::alpha_cumprod_or_final(int64_t t) const {
  return t >= 0 ? alpha_cumprod(t) : final_alpha_cumprod();
}

torch::Tensor DdimScheduler::predicted_original_and_epsilon(const torch::Tensor& model_output,
                                                            const torch::Tensor& sample, double alpha_prod_t,
                                                            torch::Tensor& epsilon) const {
  const double beta_prod_t = 1 - alpha_prod_t;
  torch::Tensor original;
  if (config_.prediction_type == "epsilon") {
    original = (sample - std::sqrt(beta_prod_t) * model_output) / std::sqrt(alpha_prod_t);
    epsilon = model_output;
  } else if (config_.prediction_type == "sample") {
    original = model_output;
    epsilon = (sample - std::sqrt(alpha_prod_t) * original) / std::sqrt(beta_prod_t);
  } else {  // v_prediction
    original = std::sqrt(alpha_prod_t) * sample - std::sqrt(beta_prod_t) * model_output;
    epsilon = std::sqrt(alpha_prod_t) * model_output + std::sqrt(beta_prod_t) * sample;
  }
  if (config_.clip_sample) {
    original = original.clamp(-config_.clip_sample_range, config_.clip_sample_range);
  }
  return original;
}

torch::Tensor DdimScheduler::step(const torch::Tensor& model_output, int64_t timestep,
                                  const torch::Tensor& sample) const {
  const int64_t previous = timestep - step_ratio();
  const double alpha_prod_t = alpha_cumprod(timestep);
  const double alpha_prod_prev = alpha_cumprod_or_final(previous);
  torch::Tensor epsilon;
  const auto original = predicted_original_and_epsilon(model_output, sample, alpha_prod_t, epsilon);
  return std::sqrt(alpha_prod_prev) * original + std::sqrt(1 - alpha_prod_prev) * epsilon;
}

torch::Tensor DdimScheduler::inversion_step(const torch::Tensor& model_output, int64_t timestep,
                                            const torch::Tensor& sample) const {
  // The step() formula run backwards in time: x_0 predicted from the less noisy level,
  // then re-noised to `timestep` along the same epsilon.
  const int64_t current = std::min<int64_t>(timestep - step_ratio(), config_.train_steps - 1);
  const double alpha_prod_current = alpha_cumprod_or_final(current);
  const double alpha_prod_next = alpha_cumprod(timestep);
  torch::Tensor epsilon;
  const auto original = predicted_original_and_epsilon(model_output, sample, alpha_prod_current, epsilon);
  return std::sqrt(alpha_prod_next) * original + std::sqrt(1 - alpha_prod_next) * epsilon;
}

torch::Tensor DdimScheduler::add_noise(const torch::Tensor& original, const torch::Tensor& noise,
                                       int64_t timestep) const {
  const double alpha_prod = alpha_cumprod(timestep);
  return std::sqrt(alpha_prod) * original + std::sqrt(1 - alpha_prod) * noise;
}

}  // namespace dsbench::diffusion
