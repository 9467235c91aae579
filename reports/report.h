// `dsbench report RUN`: what a reader sees the next morning. A ReportModel is assembled
// from the store once (renderers never touch SQL); it is written as a self-contained
// HTML page (inline CSS and SVG plots, images copied next to it and referenced
// relatively: it opens offline), a Markdown summary and a JSON summary.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/store/store.h"

namespace dsbench::reports {

struct StripImage {
  std::filesystem::path source;  // absolute path of the artifact
  std::string caption;
};

struct StripRow {
  std::string system;
  std::vector<StripImage> portraits;  // subject order
  std::vector<StripImage> scenes;     // scene order
  std::vector<std::vector<StripImage>> scene_masks;  // per scene: the subject masks the system stored
};

struct Strip {
  std::string story;
  std::uint64_t seed = 0;
  std::vector<std::string> prompts;  // per scene index, when the dataset is at hand
  std::vector<StripRow> rows;        // one per system
};

struct ItemCounts {
  std::int64_t total = 0, done = 0, failed = 0, pending = 0;
};

struct ReportModel {
  store::RunInfo run;
  ItemCounts items;
  std::vector<std::string> systems;                  // image systems, config order
  std::vector<store::MetricSummary> summaries;       // every group kind
  std::vector<store::MetricValue> director_scores;   // system "director:<backend>", run level
  std::vector<Strip> strips;
  std::vector<store::BenchmarkResult> benchmarks;    // of this run, else every kernel result in the store
  std::vector<store::StageTiming> timings;
};

struct ReportOptions {
  std::vector<std::string> stories;  // strips; empty = the run config's report.stories, else the first max_strips
  int max_strips = 3;
};

ReportModel build_report_model(const store::Store& store, store::RunId run, const ReportOptions& options = {});

std::string render_markdown(const ReportModel& model);
nlohmann::json render_json(const ReportModel& model);
// `image_href(source)` maps an artifact to the relative href used in the page.
std::string render_html(const ReportModel& model,
                        const std::function<std::string(const std::filesystem::path&)>& image_href);

struct ReportFiles {
  std::filesystem::path html;
  std::filesystem::path markdown;
  std::filesystem::path json;
  std::size_t images = 0;  // copied into <out>/images/
};

// Writes index.html, report.md, report.json and images/ under `out_dir` (created).
ReportFiles write_report(const ReportModel& model, const std::filesystem::path& out_dir);

}  // namespace dsbench::reports
