#include "harness/directing/directing.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/errors.h"
#include "core/text.h"

namespace dsbench::directing {
namespace {

std::string format_fraction(double value) {
  if (std::isnan(value)) return "n/a";
  char text[32];
  std::snprintf(text, sizeof text, "%.2f", value);
  return text;
}

void log_line(const Options& options, const std::string& line) {
  if (options.log != nullptr) *options.log << line << '\n';
}

std::string summary_line(const BackendDirection& direction) {
  const director::DirectorScores& s = direction.scores;
  std::string line = "director " + direction.backend + " (" + direction.kind + "): " + std::to_string(s.planned) +
                     "/" + std::to_string(s.stories) + " stories planned";
  if (!std::isnan(s.subject_recall)) {
    line += ", subject recall " + format_fraction(s.subject_recall) + ", precision " +
            format_fraction(s.subject_precision);
  }
  if (!std::isnan(s.json_valid_first_try)) {
    line += ", valid JSON on first try " + format_fraction(s.json_valid_first_try) + ", " +
            std::to_string(s.http_requests) + " HTTP request(s), " + std::to_string(s.calls_from_store) +
            " answer(s) from the store";
  }
  return line;
}

// make_director's errors name "director.backends[].<field>"; say which backend and file.
core::InputError locate(const core::InputError& error, const harness::RunConfig& config, std::size_t index) {
  std::string field = error.where().field;
  const std::string generic = "director.backends[]";
  if (field.starts_with(generic)) {
    field = "director.backends[" + std::to_string(index) + "]" + field.substr(generic.size());
  }
  std::string message = error.what();
  const std::string prefix = error.where().to_string() + ": ";
  if (message.starts_with(prefix)) message = message.substr(prefix.size());
  return core::InputError(core::Location{.file = config.source, .line = 0, .field = field}, message);
}

}  // namespace

director::BackendSettings backend_settings(const harness::RunConfig& config,
                                           const harness::DirectorBackendConfig& backend, bool no_cache) {
  director::BackendSettings settings;
  settings.name = backend.name.empty() ? backend.kind : backend.name;
  settings.kind = backend.kind;
  settings.base_url = backend.base_url;
  settings.model = backend.model;
  settings.temperature = backend.temperature;
  settings.seed = backend.seed;
  settings.max_tokens = backend.max_tokens;
  settings.timeout_s = backend.timeout_s;
  settings.api_key_env = backend.api_key_env;
  settings.concurrency = backend.concurrency;
  settings.max_repairs = backend.max_repairs;
  settings.cache = backend.cache && !no_cache;
  settings.templates_dir = config.director.templates_dir;
  return settings;
}

std::string metric_system(const std::string& backend) { return "director:" + backend; }

const director::StoryPlan* RunDirection::plan_of(const std::string& backend, const std::string& story) const {
  for (const BackendDirection& direction : backends) {
    if (direction.backend != backend) continue;
    for (const director::PlanOutcome& outcome : direction.outcomes) {
      if (outcome.story_id == story) return outcome.ok ? &outcome.plan : nullptr;
    }
  }
  return nullptr;
}

std::vector<std::string> RunDirection::errors() const {
  std::vector<std::string> errors;
  for (const BackendDirection& direction : backends) {
    for (const director::PlanOutcome& outcome : direction.outcomes) {
      if (!outcome.ok) {
        errors.push_back("story " + outcome.story_id + " (director " + direction.backend + "): " + outcome.error);
      }
    }
  }
  return errors;
}

RunDirection plan_run(const harness::RunConfig& config, store::Store& store, store::RunId run,
                      const std::vector<datasets::Story>& stories, const Options& options) {
  std::vector<std::string> configured;
  for (const auto& backend : config.director.backends) {
    configured.push_back(backend.name.empty() ? backend.kind : backend.name);
  }
  for (const std::string& wanted : options.backends) {
    if (std::find(configured.begin(), configured.end(), wanted) == configured.end()) {
      throw core::InputError(core::Location{.file = config.source, .line = 0, .field = "director.backends"},
                             "no director backend named '" + wanted + "'" + core::did_you_mean(wanted, configured) +
                                 "; configured: " + core::join(configured, ", "));
    }
  }

  RunDirection result;
  for (std::size_t i = 0; i < config.director.backends.size(); ++i) {
    const std::string& name = configured[i];
    if (!options.backends.empty() &&
        std::find(options.backends.begin(), options.backends.end(), name) == options.backends.end()) {
      continue;
    }
    const harness::DirectorBackendConfig& backend = config.director.backends[i];
    const director::BackendSettings settings = backend_settings(config, backend, options.no_cache);
    std::shared_ptr<director::CallStore> calls;
    if (settings.kind != "oracle") calls = store.open_call_store(run);
    std::unique_ptr<director::Director> director;
    try {
      director = director::make_director(settings, calls);
    } catch (const core::InputError& error) {
      throw locate(error, config, i);
    }

    BackendDirection direction;
    direction.backend = name;
    direction.kind = settings.kind;
    direction.model = settings.model;
    direction.outcomes = director::plan_stories(*director, stories, std::max(1, settings.concurrency));
    direction.events = director->take_call_events();
    direction.scores = director::score_director(name, stories, direction.outcomes, direction.events);
    for (const director::PlanOutcome& outcome : direction.outcomes) {
      if (!outcome.ok) log_line(options, "cannot plan story " + outcome.story_id + " (director " + name + "): " + outcome.error);
    }
    log_line(options, summary_line(direction));
    if (options.write_metrics) store.put_metric_values(run, director_metric_values(direction));
    result.backends.push_back(std::move(direction));
  }
  return result;
}

std::vector<store::MetricValue> director_metric_values(const BackendDirection& direction) {
  const auto extra = [&](const char* level) {
    return nlohmann::json{
        {"backend", direction.backend}, {"kind", direction.kind}, {"model", direction.model}, {"level", level}};
  };
  std::vector<store::MetricValue> values;
  for (const director::StoryScores& story : direction.scores.per_story) {
    for (const auto& [metric, value] : director::story_score_metrics(story)) {
      values.push_back(store::MetricValue{.system = metric_system(direction.backend),
                                          .story = story.story_id,
                                          .scene = -1,
                                          .seed = 0,
                                          .metric = metric,
                                          .value = value,
                                          .extra = extra("story")});
    }
  }
  for (const auto& [metric, value] : director::score_metrics(direction.scores)) {
    values.push_back(store::MetricValue{.system = metric_system(direction.backend),
                                        .story = "",
                                        .scene = -1,
                                        .seed = 0,
                                        .metric = metric,
                                        .value = value,
                                        .extra = extra("run")});
  }
  return values;
}

}  // namespace dsbench::directing
