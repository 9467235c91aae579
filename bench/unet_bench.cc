// Seconds per UNet step with classifier-free guidance (batch 2, 77 context tokens) on
// random full-size weights, and the process's peak RSS. sd15 at 512 needs ~6 GB and
// tens of seconds per step: select with --benchmark_filter (e.g. "unet_step/tiny").
// Threads: DSBENCH_THREADS (default 2). `dsbench bench unet` measures the same thing.
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstdlib>

#include "pipeline/diffusion/unet.h"
#include "pipeline/diffusion/vae.h"

namespace {

using dsbench::diffusion::UNet;
using dsbench::diffusion::UNetConfig;
using dsbench::diffusion::VaeConfig;

int threads() {
  const char* value = std::getenv("DSBENCH_THREADS");
  return value != nullptr ? std::max(1, std::atoi(value)) : 2;
}

double peak_rss_megabytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // Linux reports KiB
}

// The profiles' UNet and VAE architectures (pipeline/diffusion/profiles.cc uses the same).
void unet_step(benchmark::State& state, const UNetConfig& config, const VaeConfig& vae) {
  const auto size = state.range(0);
  torch::set_num_threads(threads());
  torch::NoGradGuard no_grad;
  UNet unet(config);
  unet->eval();
  const auto latent = size / vae.downsampling_factor();
  const auto sample = torch::randn({2, config.in_channels, latent, latent});
  const auto context = torch::randn({2, 77, config.cross_attention_dim});
  dsbench::attention::StepInfo step;
  step.num_steps = 1;
  step.timestep = 501;
  for (auto _ : state) {
    benchmark::DoNotOptimize(unet(sample, torch::tensor(std::int64_t{501}), context, step));
  }
  state.counters["peak_rss_MB"] = peak_rss_megabytes();
  state.counters["threads"] = threads();
}

BENCHMARK_CAPTURE(unet_step, tiny, UNetConfig::tiny(), VaeConfig::tiny())->Arg(64)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(unet_step, sd15, UNetConfig::sd15(), VaeConfig::sd15())
    ->Arg(256)
    ->Arg(512)
    ->Iterations(2)
    ->Unit(benchmark::kSecond);

}  // namespace

BENCHMARK_MAIN();
