#include "harness/config/schema.h"

#include "metrics/catalogue.h"

namespace dsbench::harness::schema {
namespace {

using enum ValueType;
using nlohmann::json;

// Registry names of the story-visualization systems (pipeline/systems/registry).
const std::vector<std::string> kSystemTypes = {
    "vanilla",           "dreamstory",         "storydiffusion",       "consistory",
    "dreamstory-no-mmsa", "dreamstory-no-mmca", "dreamstory-no-masks", "dreamstory-no-rewrite"};

// Metric names harness/evaluation writes (metrics/catalogue.h); the list in a config
// says which of them a run reports (empty = no evaluation after the run).
const std::vector<std::string> kMetricNames = metrics::metric_names();

std::vector<KeySpec> build_table() {
  return {
      {.path = "name", .type = kString, .fallback = "", .help = "run label; defaults to the file's stem"},
      {.path = "description", .type = kString, .fallback = ""},

      {.path = "dataset", .type = kSection, .required = true},
      {.path = "dataset.root", .type = kString, .fallback = "", .path_kind = PathKind::kPath, .must_exist = true,
       .help = "a DS-500 release folder, a JSONL dataset (folder or stories.jsonl) or a folder of per-case JSON"},
      // datasets::Layout: ds500 = official release, jsonl = ours, official-json = per-case
      // files; generated = datasets::generate_scaling_dataset (no root).
      {.path = "dataset.format", .type = kString, .fallback = "auto",
       .allowed = {"auto", "ds500", "jsonl", "official-json", "generated"}},
      {.path = "dataset.stories", .type = kList, .fallback = json::array(), .help = "story ids to keep"},
      {.path = "dataset.stories[]", .type = kString},
      {.path = "dataset.categories", .type = kList, .fallback = json::array()},
      {.path = "dataset.categories[]", .type = kString},
      {.path = "dataset.limit", .type = kInteger, .fallback = 0, .minimum = 0, .help = "0 = every story"},
      {.path = "dataset.max_scenes", .type = kInteger, .fallback = 0, .minimum = 0, .help = "0 = every scene"},
      {.path = "dataset.generator", .type = kString, .fallback = "scaling", .allowed = {"scaling"},
       .help = "for format: generated"},
      {.path = "dataset.generator_params", .type = kFree, .fallback = json::object(),
       .help = "scaling: subjects (1..16), stories, scenes, seed"},

      {.path = "systems", .type = kList, .required = true, .minimum = 1},
      {.path = "systems[]", .type = kSection},
      {.path = "systems[].name", .type = kString, .fallback = "", .help = "unique in the run; defaults to type"},
      {.path = "systems[].type", .type = kString, .required = true, .allowed = kSystemTypes},
      {.path = "systems[].params", .type = kFree, .fallback = json::object()},
      {.path = "systems[].director", .type = kString, .fallback = "",
       .help = "name of the director backend that plans this system's stories; defaults to the first backend"},

      {.path = "director", .type = kSection},
      {.path = "director.backends", .type = kList, .fallback = json::array({json::object()}), .minimum = 1},
      {.path = "director.backends[]", .type = kSection},
      {.path = "director.backends[].name", .type = kString, .fallback = "", .help = "defaults to kind"},
      {.path = "director.backends[].kind", .type = kString, .fallback = "oracle",
       .allowed = {"oracle", "openai", "replay"}},
      {.path = "director.backends[].base_url", .type = kString, .fallback = ""},
      {.path = "director.backends[].model", .type = kString, .fallback = ""},
      {.path = "director.backends[].temperature", .type = kNumber, .fallback = 0.0, .minimum = 0.0, .maximum = 2.0},
      {.path = "director.backends[].seed", .type = kInteger, .fallback = 0},
      {.path = "director.backends[].max_tokens", .type = kInteger, .fallback = 2048, .minimum = 1},
      {.path = "director.backends[].timeout_s", .type = kNumber, .fallback = 60.0, .minimum = 0.001},
      {.path = "director.backends[].api_key_env", .type = kString, .fallback = "",
       .help = "NAME of the environment variable holding the key; the key itself never goes in a config"},
      {.path = "director.backends[].concurrency", .type = kInteger, .fallback = 4, .minimum = 1, .maximum = 256},
      {.path = "director.backends[].max_repairs", .type = kInteger, .fallback = 2, .minimum = 0, .maximum = 20},
      {.path = "director.backends[].cache", .type = kBoolean, .fallback = true},
      {.path = "director.templates_dir", .type = kString, .fallback = "", .path_kind = PathKind::kPath,
       .must_exist = true},

      {.path = "model", .type = kSection},
      {.path = "model.profile", .type = kString, .fallback = "tiny", .allowed = {"tiny", "sd15"},
       .help = "pipeline/diffusion/profiles.h"},
      {.path = "model.weights", .type = kString, .fallback = "", .path_kind = PathKind::kPath,
       .help = "diffusers folder or single-file checkpoint; checked when the model loads"},
      {.path = "model.threads", .type = kInteger, .fallback = 2, .minimum = 1, .maximum = 1024},

      {.path = "sampler", .type = kSection},
      {.path = "sampler.steps", .type = kInteger, .fallback = 50, .minimum = 1, .maximum = 1000},
      {.path = "sampler.guidance", .type = kNumber, .fallback = 7.5, .minimum = 0.0, .maximum = 100.0},
      {.path = "sampler.width", .type = kInteger, .fallback = 512, .minimum = 8, .maximum = 4096},
      {.path = "sampler.height", .type = kInteger, .fallback = 512, .minimum = 8, .maximum = 4096},
      {.path = "sampler.seeds", .type = kList, .fallback = json::array({0}), .minimum = 1},
      {.path = "sampler.seeds[]", .type = kUnsigned},

      {.path = "metrics", .type = kList, .fallback = json::array()},
      {.path = "metrics[]", .type = kString, .allowed = kMetricNames},

      {.path = "evaluation", .type = kSection},
      {.path = "evaluation.model", .type = kString, .fallback = "tiny-ensemble",
       .help = "DreamSim model: ensemble | dino_vitb16 | clip_vitb16 | open_clip_vitb16 | ...; tiny-<model> = "
               "the same layout shrunk with seeded random weights (tests, smoke runs)"},
      {.path = "evaluation.weights", .type = kString, .fallback = "", .path_kind = PathKind::kPath,
       .help = "folder of converted DreamSim safetensors (scripts/convert_dreamsim.py); empty for tiny"},
      {.path = "evaluation.batch_size", .type = kInteger, .fallback = 16, .minimum = 1, .maximum = 1024},
      {.path = "evaluation.bootstrap_samples", .type = kInteger, .fallback = 1000, .minimum = 10,
       .maximum = 1000000},
      {.path = "evaluation.seed", .type = kUnsigned, .fallback = 0},
      {.path = "evaluation.clip_model", .type = kString, .fallback = "tiny-clip_vitb16",
       .help = "CLIP-T model: clip_vitb16 | clip_vitb32 | clip_vitl14; tiny-<model> = seeded random weights"},
      {.path = "evaluation.clip_weights", .type = kString, .fallback = "", .path_kind = PathKind::kPath,
       .must_exist = true,
       .help = "one CLIP safetensors file (Hugging Face CLIPModel or OpenAI keys); empty: CLIP-T is scored "
               "only for tiny models and skipped, with a notice, for full-size ones"},
      {.path = "evaluation.aesthetic_weights", .type = kString, .fallback = "", .path_kind = PathKind::kPath,
       .must_exist = true,
       .help = "LAION aesthetic predictor safetensors (scripts/convert_aesthetic.py); needs clip_model: clip_vitl14. "
               "Empty: the aesthetic metric is scored only with a tiny clip_model (seeded random MLP)"},
      {.path = "evaluation.dino_model", .type = kString, .fallback = "tiny-dinov2_vitb14",
       .help = "D&C-DINO model: dinov2_vitb14 (facebook/dinov2-base); tiny-dinov2_vitb14 = seeded random weights"},
      {.path = "evaluation.dino_weights", .type = kString, .fallback = "", .path_kind = PathKind::kPath,
       .must_exist = true,
       .help = "one DINOv2 safetensors file (Hugging Face Dinov2Model model.safetensors, or "
               "scripts/convert_dinov2.py's output); empty: dnc_dino is scored only for the tiny model"},
      {.path = "evaluation.clip_text", .type = kString, .fallback = "scene", .allowed = {"scene", "generation"},
       .help = "CLIP-T text: the director's scene prompt, or the prompt the system generated from"},
      {.path = "evaluation.detector", .type = kSection},
      {.path = "evaluation.detector.command", .type = kString, .fallback = "",
       .help = "open-vocabulary detector run as a JSON-lines filter (metrics/README.md) for images without "
               "stored subject masks; empty = none"},
      {.path = "evaluation.detector.threshold", .type = kNumber, .fallback = 0.4, .minimum = 0.0, .maximum = 1.0,
       .help = "boxes scoring below are dropped (MuDI's OWLv2 setting: 0.4)"},
      {.path = "evaluation.detector.timeout_s", .type = kNumber, .fallback = 3600.0, .minimum = 0.001},
      {.path = "evaluation.detector.scope", .type = kString, .fallback = "all", .allowed = {"all", "unmasked"},
       .help = "all: the detector boxes every image (every system scored with the same boxes); unmasked: only "
               "images whose system stored no subject masks"},

      {.path = "compare", .type = kSection},
      {.path = "compare.thresholds", .type = kList, .fallback = json::array(),
       .help = "per metric: when a candidate counts as a regression"},
      {.path = "compare.thresholds[]", .type = kSection},
      {.path = "compare.thresholds[].metric", .type = kString, .required = true},
      {.path = "compare.thresholds[].direction", .type = kString, .fallback = "auto",
       .allowed = {"auto", "lower_is_better", "higher_is_better"},
       .help = "auto: the metric's own direction (metrics/catalogue.h); lower for metrics it does not know"},
      {.path = "compare.thresholds[].abs_tol", .type = kNumber, .fallback = 0.0, .minimum = 0.0},
      {.path = "compare.thresholds[].rel_tol", .type = kNumber, .fallback = 0.0, .minimum = 0.0},
      {.path = "compare.timing_rel_tol", .type = kNumber, .fallback = 0.25, .minimum = 0.0,
       .help = "stage timings and kernel benchmarks: a slowdown beyond this ratio is flagged"},
      {.path = "compare.bootstrap_samples", .type = kInteger, .fallback = 2000, .minimum = 10, .maximum = 1000000},
      {.path = "compare.seed", .type = kUnsigned, .fallback = 0},

      {.path = "report", .type = kSection},
      {.path = "report.stories", .type = kList, .fallback = json::array(),
       .help = "story ids shown as strips; empty = the first max_strips stories"},
      {.path = "report.stories[]", .type = kString},
      {.path = "report.max_strips", .type = kInteger, .fallback = 3, .minimum = 0, .maximum = 1000},

      {.path = "store", .type = kSection, .shorthand = "url"},
      {.path = "store.url", .type = kString, .fallback = "runs/dsbench.sqlite", .path_kind = PathKind::kPathOrUrl,
       .help = "SQLite file path, or a database URL (scheme://...)"},

      {.path = "output_dir", .type = kString, .fallback = "runs", .path_kind = PathKind::kPath},
  };
}

}  // namespace

const std::vector<KeySpec>& table() {
  static const std::vector<KeySpec> rows = build_table();
  return rows;
}

const KeySpec* find(std::string_view path) {
  for (const auto& row : table()) {
    if (row.path == path) return &row;
  }
  return nullptr;
}

std::vector<std::string> children(std::string_view section_path) {
  std::vector<std::string> keys;
  const std::string prefix = section_path.empty() ? "" : std::string(section_path) + ".";
  for (const auto& row : table()) {
    if (row.path.size() <= prefix.size() || row.path.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string rest = row.path.substr(prefix.size());
    if (rest.find('.') == std::string::npos && rest.find('[') == std::string::npos) keys.push_back(rest);
  }
  return keys;
}

std::string type_name(ValueType type) {
  switch (type) {
    case kString: return "a string";
    case kInteger: return "an integer";
    case kUnsigned: return "a non-negative integer";
    case kNumber: return "a number";
    case kBoolean: return "true or false";
    case kSection: return "a map";
    case kList: return "a list";
    case kFree: return "any value";
  }
  return "a value";
}

}  // namespace dsbench::harness::schema
