// dsbench eval RUN | --images DIR: DreamSim, D&C-DS, consistency and CLIP-T for a run in the store,
// or for a folder of images made elsewhere (imported as a run of its own first; the
// layouts are described in harness/evaluation/evaluation.h).
#include <filesystem>
#include <iomanip>
#include <iostream>

#include "core/errors.h"
#include "harness/cli/command.h"
#include "harness/evaluation/evaluation.h"

namespace dsbench::cli {
namespace {

namespace po = boost::program_options;
namespace fs = std::filesystem;

// The run's own evaluation settings when it was made from a config; the defaults of an
// imported run otherwise (DreamSim ensemble, no CLIP-T unless asked).
evaluation::Options stored_settings(const store::Store& store, store::RunId run) {
  try {
    const auto config = nlohmann::json::parse(store.get_run(run).config_json);
    if (config.is_object() && config.contains("evaluation")) return evaluation::options_from_config(config);
  } catch (const nlohmann::json::exception&) {
  }
  return {};
}

template <typename T>
void take(const po::variables_map& values, const char* name, T& target) {
  if (values.count(name)) target = values[name].as<T>();
}

int run_eval(const Arguments& args) {
  po::options_description options("options (unset ones come from the run's config, else the defaults shown)");
  add_store_options(options);
  options.add_options()
      ("run", po::value<std::string>(), "(positional) the run id")
      ("images", po::value<std::string>(), "import this folder as a new run, then evaluate it")
      ("system", po::value<std::string>()->default_value("imported"), "system name for --images")
      ("dataset", po::value<std::string>(),
       "dataset folder giving scene prompts, subjects and class words by story id (for --images)")
      ("model", po::value<std::string>(),
       "DreamSim model [ensemble]: ensemble, dino_vitb16, clip_vitb16, open_clip_vitb16, clip_vitb32, "
       "open_clip_vitb32, dinov2_vitb14, synclr_vitb16, dino_vitb16_patch, dinov2_vitb14_patch, tiny-<name>")
      ("weights", po::value<std::string>(),
       "folder of <backbone>.safetensors (scripts/convert_dreamsim.py); empty: random weights, tiny-* only")
      ("clip-model", po::value<std::string>(),
       "CLIP-T model: clip_vitb16, clip_vitb32, clip_vitl14, tiny-<name>; 'none' = no CLIP-T")
      ("clip-weights", po::value<std::string>(), "one CLIP safetensors file (scripts/convert_clip.py)")
      ("clip-text", po::value<std::string>(), "CLIP-T text: scene (the director's prompt) or generation")
      ("aesthetic", "also score the LAION aesthetic predictor (needs --clip-model clip_vitl14 + --aesthetic-weights, "
       "or a tiny-* CLIP model)")
      ("aesthetic-weights", po::value<std::string>(), "LAION aesthetic MLP safetensors (scripts/convert_aesthetic.py)")
      ("dino-model", po::value<std::string>(),
       "D&C-DINO model: dinov2_vitb14 (facebook/dinov2-base), tiny-dinov2_vitb14; 'none' = no dnc_dino")
      ("dino-weights", po::value<std::string>(),
       "one DINOv2 safetensors file (a Hugging Face model.safetensors, or scripts/convert_dinov2.py's output)")
      ("detector", po::value<std::string>(),
       "detector command giving every image's subject boxes (JSON lines on stdin/stdout, metrics/README.md)")
      ("detector-threshold", po::value<double>(), "detector score threshold [0.4]")
      ("detector-scope", po::value<std::string>(),
       "all: the detector (or --detections) boxes every image [default]; unmasked: only images without stored masks")
      ("detections", po::value<std::string>(), "imported detections (JSON lines keyed by image path)")
      ("seed", po::value<std::uint64_t>(), "seed of random (tiny) weights")
      ("batch", po::value<int>(), "images per forward pass")
      ("threads", po::value<int>(), "torch threads (0 = default)")
      ("json", "print the report as JSON");
  po::positional_options_description positional;
  positional.add("run", 1);
  po::variables_map values;
  if (!parse_command_line(args,
                          "eval (RUN | --images DIR [--dataset DIR]) [--store PATH | --config FILE] [--model M] "
                          "[--weights DIR] [--clip-model M --clip-weights FILE] [--detector CMD | --detections FILE]",
                          options, positional, values)) {
    return 0;
  }
  if (values.count("run") == values.count("images")) {
    throw core::InputError("give either a run id or --images DIR: dsbench eval RUN | dsbench eval --images DIR");
  }
  store::Store store = store::Store::open(store_location(values));
  store::RunId run = 0;
  evaluation::Options evaluation_options;
  if (values.count("images")) {
    run = evaluation::import_images(store, values["images"].as<std::string>(), values["system"].as<std::string>());
    std::cerr << "imported " << values["images"].as<std::string>() << " as run " << run << "\n";
    evaluation_options.model = "ensemble";
  } else {
    run = parse_run_id(values["run"].as<std::string>());
    evaluation_options = stored_settings(store, run);
  }
  take(values, "model", evaluation_options.model);
  if (values.count("weights")) evaluation_options.weights_dir = values["weights"].as<std::string>();
  if (values.count("dataset")) evaluation_options.dataset_root = values["dataset"].as<std::string>();
  take(values, "clip-model", evaluation_options.clip_model);
  if (evaluation_options.clip_model == "none") evaluation_options.clip_model.clear();
  if (values.count("clip-weights")) evaluation_options.clip_weights = values["clip-weights"].as<std::string>();
  take(values, "clip-text", evaluation_options.clip_text);
  if (values.count("aesthetic") || values.count("aesthetic-weights")) evaluation_options.aesthetic = true;
  if (values.count("aesthetic-weights")) {
    evaluation_options.aesthetic_weights = values["aesthetic-weights"].as<std::string>();
  }
  take(values, "dino-model", evaluation_options.dino_model);
  if (evaluation_options.dino_model == "none") evaluation_options.dino_model.clear();
  if (values.count("dino-weights")) evaluation_options.dino_weights = values["dino-weights"].as<std::string>();
  take(values, "detector", evaluation_options.detector_command);
  take(values, "detector-threshold", evaluation_options.detector_threshold);
  if (values.count("detector-scope")) {
    const auto scope = values["detector-scope"].as<std::string>();
    if (scope != "all" && scope != "unmasked") {
      throw core::InputError(core::Location{"", 0, "--detector-scope"}, "expected all or unmasked, got '" + scope + "'");
    }
    evaluation_options.detect_masked_images = scope == "all";
  }
  if (values.count("detections")) evaluation_options.detections_file = values["detections"].as<std::string>();
  if (values.count("seed")) {
    evaluation_options.random_seed = values["seed"].as<std::uint64_t>();
  }
  take(values, "batch", evaluation_options.batch_size);
  take(values, "threads", evaluation_options.threads);
  for (const auto& [flag, file] : {std::pair<const char*, fs::path>{"--clip-weights", evaluation_options.clip_weights},
                                   {"--detections", evaluation_options.detections_file},
                                   {"--aesthetic-weights", evaluation_options.aesthetic_weights},
                                   {"--dino-weights", evaluation_options.dino_weights},
                                   {"--dataset", evaluation_options.dataset_root}}) {
    if (!file.empty() && !fs::exists(file)) {
      throw core::InputError(core::Location{file.string(), 0, flag}, "not found");
    }
  }
  const auto report = evaluation::evaluate_run(store, run, evaluation_options);
  if (values.count("json")) {
    std::cout << nlohmann::json{{"run", run}, {"images", report.images}, {"embedded", report.embedded},
                                {"values", report.values}, {"summaries", report.summaries},
                                {"detected_images", report.detected_images}, {"clip_scored", report.clip_scored},
                                {"aesthetic_scored", report.aesthetic_scored}, {"dino_scored", report.dino_scored},
                                {"notes", report.notes}, {"seconds", report.seconds}}.dump() << "\n";
    return 0;
  }
  std::cout << "run " << run << ": " << report.images << " images/crops (" << report.embedded
            << " embedded, the rest cached), " << report.values << " metric values, " << report.summaries
            << " summaries in " << std::fixed << std::setprecision(3) << report.seconds << " s\n";
  if (report.detected_images > 0) std::cout << "  subject boxes of " << report.detected_images << " image(s) from the detector\n";
  for (const auto& note : report.notes) std::cout << "  note: " << note << "\n";
  for (const auto& summary : store.metric_summaries(run)) {
    if (summary.group_kind != "all") continue;
    std::cout << "  " << std::left << std::setw(22) << summary.system << " " << std::setw(26) << summary.metric
              << " n=" << summary.n << "  mean " << std::setprecision(4) << summary.mean << "  95% CI ["
              << summary.ci_low << ", " << summary.ci_high << "]\n";
  }
  return 0;
}

}  // namespace

DSBENCH_COMMAND("eval", "DreamSim / D&C-DS / D&C-DINO / consistency / CLIP-T metrics for a run or an imported image folder", run_eval);

}  // namespace dsbench::cli
