// dsbench model info: each network of a profile, its parameter count and weight source.
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>

#include "harness/cli/command.h"
#include "pipeline/diffusion/parameter_counts.h"
#include "pipeline/diffusion/profiles.h"
#include "pipeline/diffusion/weights.h"

namespace dsbench::cli {
namespace {

namespace po = boost::program_options;

int run_model_info(const Arguments& args) {
  po::options_description options("options");
  options.add_options()
      ("profile", po::value<std::string>()->default_value("tiny"), "model profile (sd15, sdxl, tiny)")
      ("weights", po::value<std::string>()->default_value(""),
       "diffusers folder or single-file .safetensors checkpoint (sd15)")
      ("json", "print JSON instead of a table");
  po::variables_map values;
  if (!parse_command_line(args, "model info [--profile NAME] [--weights PATH]", options, {}, values)) return 0;
  const auto profile = diffusion::profile_by_name(values["profile"].as<std::string>());
  const std::string weights = values["weights"].as<std::string>();
  struct Row {
    std::string network;
    std::int64_t parameters;
    std::string source;
  };
  std::vector<Row> rows;
  if (profile.seeded_random || !weights.empty()) {
    // Load for real: the counts are the built modules' and the sources are the files read.
    torch::NoGradGuard no_grad;
    const auto models = diffusion::load_models(profile, weights);
    rows = {{"text_encoder", diffusion::parameter_count(*models.text_encoder), models.text_encoder_source},
            {"unet", diffusion::parameter_count(*models.unet), models.unet_source},
            {"vae", diffusion::parameter_count(*models.vae), models.vae_source}};
  } else {
    // Counted from the configuration's shapes: nothing is allocated (SDXL would need 10 GB).
    const std::string source = profile.can_generate ? "none loaded (pass --weights DIR|FILE)"
                                                    : "architecture only (no pipeline for this profile yet)";
    for (const auto& [network, count] : diffusion::network_parameter_counts(profile)) {
      rows.push_back({network, count, source});
    }
  }
  if (values.count("json")) {
    nlohmann::json out{{"profile", profile.name}, {"image_size", profile.default_size}, {"networks", nlohmann::json::array()}};
    for (const auto& row : rows) {
      out["networks"].push_back({{"network", row.network}, {"parameters", row.parameters}, {"source", row.source}});
    }
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  std::cout << "profile " << profile.name << " (" << profile.default_size << "x" << profile.default_size
            << " images)\n";
  std::cout << std::left << std::setw(14) << "network" << std::right << std::setw(14) << "parameters"
            << "  weights\n";
  for (const auto& row : rows) {
    std::cout << std::left << std::setw(14) << row.network << std::right << std::setw(14) << row.parameters << "  "
              << row.source << "\n";
  }
  return 0;
}

}  // namespace

DSBENCH_COMMAND("model info", "each network's parameter count and weight source for a profile", run_model_info);

}  // namespace dsbench::cli
