// dsbench bench step --system dreamstory --subjects S [--profile tiny|sd15]: seconds of one
// classifier-free-guidance UNet step over DreamStory's batch [portrait_1 … portrait_S, scene]
// (2(S+1) rows) with the MsdProcessor (MMSA from layer 0 and MMCA, masks: one ellipse per
// subject) against the same batch with vanilla attention, and their ratio. Random weights
// (the architecture is what costs time); median over --repeats after one warm-up call.
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "core/errors.h"
#include "harness/cli/command.h"
#include "pipeline/attention/processors.h"
#include "pipeline/diffusion/unet.h"

namespace dsbench::cli {
namespace {

namespace po = boost::program_options;

torch::Tensor ellipse_mask(int size, double cy, double cx, double radius) {
  const auto grid = (torch::arange(size, torch::kFloat64) + 0.5) / size;
  const auto dy = (grid.unsqueeze(1) - cy) / radius;
  const auto dx = (grid.unsqueeze(0) - cx) / radius;
  return dy * dy + dx * dx <= 1.0;
}

attention::StepInfo story_step(int subjects) {
  attention::StepInfo step;
  step.num_steps = 50;
  step.timestep = 501;
  for (const bool conditional : {false, true}) {
    for (int image = 0; image <= subjects; ++image) {
      const bool portrait = image < subjects;
      step.rows.push_back({portrait ? attention::RowRole::kPortrait : attention::RowRole::kScene,
                           portrait ? image : -1, conditional, image});
    }
  }
  return step;
}

double median_seconds(diffusion::UNet& unet, const torch::Tensor& sample, const torch::Tensor& context,
                      const attention::StepInfo& step, int repeats) {
  const auto timestep = torch::tensor(step.timestep);
  unet(sample, timestep, context, step);  // warm-up
  std::vector<double> seconds;
  for (int i = 0; i < repeats; ++i) {
    const auto start = std::chrono::steady_clock::now();
    unet(sample, timestep, context, step);
    seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::nth_element(seconds.begin(), seconds.begin() + repeats / 2, seconds.end());
  return seconds[static_cast<std::size_t>(repeats / 2)];
}

int run_bench_step(const Arguments& args) {
  po::options_description options("options");
  options.add_options()
      ("system", po::value<std::string>()->default_value("dreamstory"), "system whose step is measured (dreamstory)")
      ("subjects", po::value<int>()->default_value(2), "subjects S (batch of S portraits + 1 scene, twice for CFG)")
      ("profile", po::value<std::string>()->default_value("tiny"), "UNet architecture: tiny | sd15")
      ("size", po::value<int>(), "image side in pixels (default 64 for tiny, 512 for sd15)")
      ("kernel", po::value<std::string>()->default_value("grouped"), "MMSA/MMCA kernel: grouped | dense")
      ("repeats", po::value<int>()->default_value(3), "timed steps per variant (median reported)")
      ("threads", po::value<int>()->default_value(2), "torch intra-op threads");
  po::variables_map values;
  if (!parse_command_line(args, "bench step [--system dreamstory] [--subjects S] [--profile tiny|sd15] [--size PX]",
                          options, {}, values)) {
    return 0;
  }
  const auto system = values["system"].as<std::string>();
  if (system != "dreamstory") throw core::InputError(core::Location{"", 0, "--system"}, "dreamstory, got '" + system + "'");
  const int subjects = values["subjects"].as<int>();
  if (subjects < 1 || subjects > 16) throw core::InputError(core::Location{"", 0, "--subjects"}, "1 to 16 subjects");
  const auto profile = values["profile"].as<std::string>();
  if (profile != "tiny" && profile != "sd15") {
    throw core::InputError(core::Location{"", 0, "--profile"}, "tiny or sd15, got '" + profile + "'");
  }
  const int size = values.count("size") ? values["size"].as<int>() : (profile == "tiny" ? 64 : 512);
  if (size < 64 || size % 64 != 0) throw core::InputError(core::Location{"", 0, "--size"}, "a multiple of 64 pixels");
  const auto kernel = values["kernel"].as<std::string>();
  if (kernel != "grouped" && kernel != "dense") {
    throw core::InputError(core::Location{"", 0, "--kernel"}, "grouped or dense, got '" + kernel + "'");
  }
  const int repeats = values["repeats"].as<int>();
  if (repeats < 1) throw core::InputError(core::Location{"", 0, "--repeats"}, "at least 1");
  const int threads = values["threads"].as<int>();
  if (threads < 1) throw core::InputError(core::Location{"", 0, "--threads"}, "at least 1");

  torch::set_num_threads(threads);
  torch::manual_seed(0);
  torch::NoGradGuard no_grad;
  const auto config = profile == "tiny" ? diffusion::UNetConfig::tiny() : diffusion::UNetConfig::sd15();
  diffusion::UNet unet(config);
  unet->eval();
  const int latent = size / 8;
  const int rows = 2 * (subjects + 1);
  const auto sample = torch::randn({rows, config.in_channels, latent, latent});
  const auto context = torch::randn({rows, 77, config.cross_attention_dim});
  const auto step = story_step(subjects);

  attention::MsdOptions msd_options;
  msd_options.start_layer = 0;
  msd_options.kernel = kernel == "dense" ? attention::KernelChoice::kDense : attention::KernelChoice::kGrouped;
  auto msd = std::make_shared<attention::MsdProcessor>(msd_options);
  std::map<int, attention::SubjectMasks> masks;
  for (int s = 0; s < subjects; ++s) {
    const double angle = 2.0 * M_PI * s / subjects;
    const double radius = std::min(0.3, 0.6 / std::sqrt(static_cast<double>(subjects)));
    masks[s] = {ellipse_mask(latent, 0.5, 0.5, 0.35),
                ellipse_mask(latent, 0.5 + 0.25 * std::sin(angle), 0.5 + 0.25 * std::cos(angle), radius)};
  }
  msd->set_masks(masks);

  unet->set_processor(std::make_shared<attention::VanillaProcessor>());
  const double vanilla = median_seconds(unet, sample, context, step, repeats);
  unet->set_processor(msd);
  const double with_msd = median_seconds(unet, sample, context, step, repeats);
  std::printf("profile %s, %dx%d, S=%d (%d UNet rows), %s kernel, %d threads, median of %d\n", profile.c_str(), size,
              size, subjects, rows, kernel.c_str(), threads, repeats);
  std::printf("  vanilla step  %10.4f s\n  msd step      %10.4f s\n  msd/vanilla   %10.3f\n", vanilla, with_msd,
              with_msd / vanilla);
  return 0;
}

}  // namespace

DSBENCH_COMMAND("bench step", "one UNet step of DreamStory's batch, MSD vs vanilla attention (ratio)", run_bench_step);

}  // namespace dsbench::cli
