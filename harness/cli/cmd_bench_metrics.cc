// dsbench bench metrics: DreamSim images/s in C++ against the eager python3-torch
// implementation of the same network (bench/dreamsim_reference.py) at the same thread
// count, and optionally (--cache) the first vs second evaluation of a synthetic run.
#include <cstdio>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "core/errors.h"
#include "core/image.h"
#include "harness/cli/command.h"
#include "harness/evaluation/evaluation.h"

namespace dsbench::cli {
namespace {

namespace po = boost::program_options;
namespace fs = std::filesystem;

std::optional<double> python_images_per_second(const std::string& python, const std::string& script,
                                               const std::string& model, int threads, int batch, int iterations) {
  if (!fs::exists(script) || !fs::exists(python)) return std::nullopt;
  std::ostringstream command;
  command << python << " " << script << " --model " << model << " --threads " << threads << " --batch " << batch
          << " --iterations " << iterations;
  std::FILE* pipe = ::popen(command.str().c_str(), "r");
  if (!pipe) return std::nullopt;
  std::string output;
  char buffer[512];
  while (std::fgets(buffer, sizeof buffer, pipe)) output += buffer;
  if (::pclose(pipe) != 0) return std::nullopt;
  try {
    return nlohmann::json::parse(output.substr(output.find('{'))).at("images_per_second").get<double>();
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// A synthetic run folder: `stories` stories of 2 subjects (portrait + mask) and 4 scenes
// with a mask per subject, in the dsbench import layout.
void write_synthetic_images(const fs::path& root, int stories) {
  for (int t = 0; t < stories; ++t) {
    const fs::path dir = root / ("story" + std::to_string(t));
    fs::create_directories(dir);
    const auto image = [&](int seed, int w, int h) {
      core::Image img(w, h, 3);
      for (std::size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = static_cast<std::uint8_t>((i * 7 + seed * 131) % 251);
      return img;
    };
    const auto mask = [&](int w, int h, int x0) {
      core::Image m(w, h, 1);
      for (int y = h / 4; y < 3 * h / 4; ++y)
        for (int x = x0; x < x0 + w / 3; ++x) m.at(y, x, 0) = 255;
      return m;
    };
    for (int s = 0; s < 2; ++s) {
      core::write_png_atomic(dir / ("portrait_0" + std::to_string(s) + ".png"), image(t * 10 + s, 256, 256));
      core::write_png_atomic(dir / ("portrait_0" + std::to_string(s) + "_mask.png"), mask(256, 256, 64));
    }
    for (int n = 0; n < 4; ++n) {
      core::write_png_atomic(dir / ("scene_0" + std::to_string(n) + ".png"), image(t * 10 + 5 + n, 384, 256));
      for (int s = 0; s < 2; ++s) {
        core::write_png_atomic(dir / ("scene_0" + std::to_string(n) + "_mask_0" + std::to_string(s) + ".png"),
                               mask(384, 256, 20 + 180 * s));
      }
    }
  }
}

int run_bench_metrics(const Arguments& args) {
  po::options_description options("options");
  options.add_options()
      ("models", po::value<std::string>()->default_value("tiny-ensemble,ensemble"), "comma-separated DreamSim models")
      ("threads", po::value<int>()->default_value(2), "torch threads, same for C++ and Python")
      ("batch", po::value<int>()->default_value(8), "images per forward pass")
      ("iterations", po::value<int>()->default_value(3), "timed batches")
      ("python", po::value<std::string>()->default_value("/usr/bin/python3"), "python with torch")
      ("reference", po::value<std::string>()->default_value("bench/dreamsim_reference.py"), "the eager reference script")
      ("cache", "also time a first and a second evaluation of a synthetic run (embedding cache)")
      ("cache-model", po::value<std::string>()->default_value("ensemble"), "model for --cache (random weights)")
      ("stories", po::value<int>()->default_value(2), "stories in the --cache run");
  po::positional_options_description positional;
  po::variables_map values;
  if (!parse_command_line(args, "bench metrics [--models M,...] [--threads N] [--batch B] [--cache]", options, positional,
                          values)) {
    return 0;
  }
  const int threads = values["threads"].as<int>(), batch = values["batch"].as<int>(),
            iterations = values["iterations"].as<int>();
  std::stringstream models(values["models"].as<std::string>());
  std::string model;
  std::cout << std::fixed << std::setprecision(2);
  while (std::getline(models, model, ',')) {
    const double ours = evaluation::dreamsim_images_per_second(model, threads, batch, iterations);
    const auto reference = python_images_per_second(values["python"].as<std::string>(),
                                                     values["reference"].as<std::string>(), model, threads, batch,
                                                     iterations);
    std::cout << "dreamsim " << model << " (random weights), batch " << batch << ", " << threads
              << " thread(s): C++ " << ours << " images/s";
    if (reference) std::cout << ", python eager " << *reference << " images/s, ratio C++/python " << ours / *reference;
    else std::cout << " (python reference not run: script or python missing, or it failed)";
    std::cout << "\n";
  }
  if (values.count("cache")) {
    const fs::path root = fs::temp_directory_path() / ("dsbench_bench_metrics_" + std::to_string(::getpid()));
    fs::remove_all(root);
    write_synthetic_images(root / "images", values["stories"].as<int>());
    auto store = store::Store::open(root / "store.sqlite");
    const auto run = evaluation::import_images(store, root / "images", "synthetic");
    evaluation::Options eval;
    eval.model = values["cache-model"].as<std::string>();
    eval.allow_random_full_size = true;
    eval.threads = threads;
    eval.batch_size = batch;
    const auto first = evaluation::evaluate_run(store, run, eval);
    const auto second = evaluation::evaluate_run(store, run, eval);
    std::cout << "eval of a synthetic run (" << first.images << " images/crops, " << eval.model
              << " random weights): first " << std::setprecision(3) << first.seconds << " s (" << first.embedded
              << " embedded), second " << second.seconds << " s (" << second.embedded << " embedded), speed-up "
              << std::setprecision(1) << first.seconds / second.seconds << "x\n";
    fs::remove_all(root);
  }
  return 0;
}

}  // namespace

DSBENCH_COMMAND("bench metrics", "DreamSim images/s: C++ vs the eager python3-torch reference; --cache: re-eval speed-up",
                run_bench_metrics);

}  // namespace dsbench::cli
