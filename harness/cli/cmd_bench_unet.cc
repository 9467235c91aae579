// dsbench bench unet: seconds per UNet step (CFG batch 2) and peak memory, with the
// profile's architecture at full size and random weights (nothing is downloaded).
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <numeric>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>

#include "core/errors.h"
#include "harness/cli/command.h"
#include "core/text.h"
#include "pipeline/diffusion/unet.h"
#include "pipeline/diffusion/vae.h"

namespace dsbench::cli {
namespace {

namespace po = boost::program_options;

double peak_rss_megabytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // Linux reports KiB
}

struct Architecture {
  std::string name;
  diffusion::UNetConfig unet;
  diffusion::VaeConfig vae;
};

// The UNet and VAE architectures of the model profiles (pipeline/diffusion/profiles.h);
// the benchmark needs no text encoder and no weights.
Architecture architecture(const std::string& name) {
  if (name == "sd15") return {name, diffusion::UNetConfig::sd15(), diffusion::VaeConfig::sd15()};
  if (name == "tiny") return {name, diffusion::UNetConfig::tiny(), diffusion::VaeConfig::tiny()};
  if (name == "sdxl") return {name, diffusion::UNetConfig::sdxl(), diffusion::VaeConfig::sd15()};
  const std::vector<std::string> names{"sd15", "sdxl", "tiny"};
  throw core::InputError(core::Location{"", 0, "--profile"},
                         "one of sd15, sdxl, tiny, got '" + name + "'" + core::did_you_mean(name, names));
}

std::int64_t parameter_count(const torch::nn::Module& module) {
  std::int64_t total = 0;
  for (const auto& parameter : module.parameters()) total += parameter.numel();
  return total;
}

int run_bench_unet(const Arguments& args) {
  po::options_description options("options");
  options.add_options()
      ("profile", po::value<std::string>()->default_value("sd15"), "model architecture (sd15, tiny, sdxl)")
      ("size", po::value<int>()->default_value(512), "image width and height in pixels")
      ("steps", po::value<int>()->default_value(3), "timed UNet steps (after one warm-up step)")
      ("threads", po::value<int>()->default_value(2), "torch intra-op threads")
      ("json", "print one JSON object instead of text");
  po::variables_map values;
  if (!parse_command_line(args, "bench unet [--profile NAME] [--size PIXELS] [--steps N]", options, {}, values)) {
    return 0;
  }
  const auto profile = architecture(values["profile"].as<std::string>());
  const int size = values["size"].as<int>();
  const int steps = values["steps"].as<int>();
  const int threads = values["threads"].as<int>();
  const int multiple = profile.vae.downsampling_factor() * profile.unet.downsampling_factor();
  if (size <= 0 || size % multiple != 0) {
    throw core::InputError(core::Location{"", 0, "--size"},
                           "a positive multiple of " + std::to_string(multiple) + ", got " + std::to_string(size));
  }
  if (steps < 1) throw core::InputError(core::Location{"", 0, "--steps"}, "at least 1");
  if (threads < 1) throw core::InputError(core::Location{"", 0, "--threads"}, "at least 1");

  torch::set_num_threads(threads);
  torch::NoGradGuard no_grad;
  diffusion::UNet unet(profile.unet);
  unet->eval();
  const auto latent = size / profile.vae.downsampling_factor();
  const auto sample = torch::randn({2, profile.unet.in_channels, latent, latent});
  const auto context = torch::randn({2, 77, profile.unet.cross_attention_dim});
  diffusion::AddedConditions added;
  if (profile.unet.addition_embed_type == "text_time") {
    const int pooled = profile.unet.projection_class_embeddings_input_dim - 6 * profile.unet.addition_time_embed_dim;
    added.text_embeds = torch::randn({2, pooled});
    added.time_ids = torch::tensor({size, size, 0, 0, size, size}, torch::kFloat32).repeat({2, 1});
  }
  attention::StepInfo step;
  step.num_steps = steps + 1;
  const auto time_step = [&] {
    const auto start = std::chrono::steady_clock::now();
    const auto out = unet(sample, torch::tensor(std::int64_t{501}), context, step, added);
    (void)out.sum().item<float>();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  const double warmup = time_step();
  std::vector<double> seconds;
  for (int i = 0; i < steps; ++i) {
    step.step = i + 1;
    seconds.push_back(time_step());
  }
  const double mean = std::accumulate(seconds.begin(), seconds.end(), 0.0) / steps;
  const double best = *std::min_element(seconds.begin(), seconds.end());
  const auto parameters = parameter_count(*unet);
  if (values.count("json")) {
    std::cout << nlohmann::json{{"profile", profile.name}, {"size", size}, {"latent", latent},
                                {"batch", 2}, {"threads", threads}, {"parameters", parameters},
                                {"warmup_seconds", warmup}, {"seconds_per_step", mean},
                                {"best_seconds_per_step", best}, {"peak_rss_mb", peak_rss_megabytes()}}
                     .dump()
              << "\n";
    return 0;
  }
  std::cout << std::fixed << std::setprecision(3) << "profile " << profile.name << ", " << size << "x" << size
            << " (latent " << latent << "x" << latent << "), CFG batch 2, " << threads << " thread(s), "
            << parameters << " UNet parameters (random)\n"
            << "warm-up step  " << warmup << " s\n"
            << "seconds/step  " << mean << " (mean of " << steps << "), best " << best << "\n"
            << "peak RSS      " << std::setprecision(0) << peak_rss_megabytes() << " MB\n";
  return 0;
}

}  // namespace

DSBENCH_COMMAND("bench unet", "seconds per UNet step and peak memory (random full-size weights)",
                run_bench_unet);

}  // namespace dsbench::cli
