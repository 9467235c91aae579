// Run configs: YAML files (with `extends:` chains and `--set` overrides) checked against
// one declarative schema (schema.cc) and resolved into a canonical JSON document whose
// sha256 identifies the run. Every problem names the config file, the line and the
// dotted key, with a "did you mean" for near misses.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/errors.h"

namespace dsbench::harness {

// One story-visualization system in a run.
// name = unique label in the run (defaults to type); type = registry name (vanilla,
// dreamstory, storydiffusion, consistory, dreamstory-no-mmsa, dreamstory-no-mmca,
// dreamstory-no-masks, dreamstory-no-rewrite); params = system-specific knobs, passed
// through unchecked to the system.
struct SystemConfig {
  std::string name;
  std::string type;
  nlohmann::json params = nlohmann::json::object();
  std::string director;  // backend name that plans its stories (resolved: never empty)
};

struct DatasetConfig {
  std::string root;                     // absolute after loading
  std::string format = "auto";          // auto | ds500 | jsonl | official-json | generated
  std::vector<std::string> stories;     // story ids to keep (empty = all)
  std::vector<std::string> categories;  // categories to keep (empty = all)
  int limit = 0;                        // first N stories after filtering (0 = all)
  int max_scenes = 0;                   // first N scenes of each story (0 = all)
  std::string generator;                // for format "generated": "scaling"
  nlohmann::json generator_params = nlohmann::json::object();
};

struct DirectorBackendConfig {
  std::string name;
  std::string kind = "oracle";  // oracle | openai | ...
  std::string base_url;
  std::string model;
  double temperature = 0.0;
  std::int64_t seed = 0;
  int max_tokens = 2048;
  double timeout_s = 60.0;
  std::string api_key_env;  // name of the environment variable holding the key, never the key
  int concurrency = 4;
  int max_repairs = 2;
  bool cache = true;
};

struct DirectorConfig {
  std::vector<DirectorBackendConfig> backends;
  std::string templates_dir;  // absolute after loading, or empty
};

struct ModelConfig {
  std::string profile = "tiny";  // tiny | sd15 | sdxl
  std::string weights;           // absolute after loading, or empty
  int threads = 2;
};

struct SamplerConfig {
  int steps = 50;
  double guidance = 7.5;
  int width = 512;
  int height = 512;
  std::vector<std::uint64_t> seeds = {0};
};

// How images are scored (metrics/ and harness/evaluation).
struct EvaluationConfig {
  std::string model = "tiny-ensemble";  // metrics::dreamsim_model_names() or tiny-<model>
  std::string weights;         // folder of converted safetensors; empty for tiny
  int batch_size = 16;
  int bootstrap_samples = 1000;
  std::uint64_t seed = 0;
  std::string clip_model = "tiny-clip_vitb16";  // metrics::clip_model_names() or tiny-<model>
  std::string clip_weights;    // one safetensors file; empty: CLIP-T only for tiny models
  std::string clip_text = "scene";  // "scene" (director's prompt) | "generation"
  std::string aesthetic_weights;    // LAION aesthetic MLP; empty: tiny clip models only
  std::string detector_command;     // empty = no detector
  double detector_threshold = 0.4;
  double detector_timeout_s = 3600.0;
};

// When `dsbench compare` calls a change a regression.
struct MetricThreshold {
  std::string metric;
  bool higher_is_better = false;
  double abs_tol = 0.0;
  double rel_tol = 0.0;
};

struct CompareConfig {
  std::vector<MetricThreshold> thresholds;
  double timing_rel_tol = 0.25;
  int bootstrap_samples = 2000;
  std::uint64_t seed = 0;
};

struct ReportConfig {
  std::vector<std::string> stories;  // strips; empty = the first max_strips stories
  int max_strips = 3;
};

struct StoreConfig {
  std::string url;  // a file path (absolute after loading) or a URL with a scheme
};

struct RunConfig {
  std::string name;
  std::string description;
  DatasetConfig dataset;
  std::vector<SystemConfig> systems;
  DirectorConfig director;
  ModelConfig model;
  SamplerConfig sampler;
  std::vector<std::string> metrics;
  EvaluationConfig evaluation;
  CompareConfig compare;
  ReportConfig report;
  StoreConfig store;
  std::string output_dir;  // absolute after loading

  nlohmann::json resolved;  // fully resolved document (extends merged, overrides applied, defaults filled, paths absolute)
  std::string hash;         // sha256 of the canonical dump of `resolved`
  std::string source;       // path of the top config file
};

// Loads `path`, follows `extends:`, applies `overrides` ("key.path=value", list indices
// as `systems[1].params.lambda=0.8`), checks everything against the schema and resolves
// paths and ${VAR} / ${VAR:-default} references. Throws core::InputError on the first
// problem (use check_config to see them all).
RunConfig load_config(const std::filesystem::path& path, const std::vector<std::string>& overrides = {});

// Rebuilds a RunConfig from a stored `resolved` document (resume). The hash is
// recomputed; paths are taken as stored.
RunConfig config_from_resolved(const nlohmann::json& resolved);

// Every problem at once (for `dsbench validate`); empty = ok.
std::vector<core::InputError> check_config(const std::filesystem::path& path,
                                           const std::vector<std::string>& overrides = {});

// Every config key, one per line: dotted path, type, default, allowed values, help.
// Generated from the schema table, so it never drifts (`dsbench validate --keys`).
std::string describe_config_keys();

}  // namespace dsbench::harness
