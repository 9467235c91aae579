#include "reports/report.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "core/errors.h"
#include "core/files.h"
#include "harness/config/config.h"
#include "harness/planning/plan.h"
#include "reports/svg.h"
#include "metrics/catalogue.h"

namespace dsbench::reports {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string number(double value, int digits = 4) {
  if (std::isnan(value)) return "n/a";
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", digits, value);
  return text;
}

bool is_director(const std::string& system) { return system.rfind("director:", 0) == 0; }

// Scene prompts per story from the run's dataset, when it can still be read.
std::map<std::string, std::vector<std::string>> story_prompts(const store::RunInfo& run) {
  std::map<std::string, std::vector<std::string>> prompts;
  try {
    const auto config = harness::config_from_resolved(json::parse(run.config_json));
    for (const auto& story : planning::load_selected_dataset(config).stories) {
      auto& list = prompts[story.id];
      for (const auto& scene : story.scenes) list.push_back(scene.prompt);
    }
  } catch (const std::exception&) {
    // The dataset moved or the run was imported: strips go without prompts.
  }
  return prompts;
}

std::vector<std::string> config_strip_stories(const store::RunInfo& run) {
  try {
    return harness::config_from_resolved(json::parse(run.config_json)).report.stories;
  } catch (const std::exception&) {
    return {};
  }
}

std::vector<Strip> build_strips(const store::Store& store, const store::RunInfo& run,
                                const std::vector<std::string>& systems, const ReportOptions& options) {
  // story -> seed -> system -> row
  std::map<std::string, std::map<std::uint64_t, std::map<std::string, StripRow>>> rows;
  std::vector<std::string> story_order;
  std::map<std::int64_t, std::string> labels;
  for (const auto& item : store.list_items(run.id)) labels[item.id] = item.label;
  for (const auto& artifact : store.artifacts_of_run(run.id)) {
    if (artifact.kind == "mask" && artifact.key.kind == "scene") {
      StripRow& row = rows[artifact.key.story][artifact.key.seed][artifact.key.system];
      const auto index = static_cast<std::size_t>(artifact.key.index);
      if (row.scene_masks.size() <= index) row.scene_masks.resize(index + 1);
      row.scene_masks[index].push_back({fs::path(run.output_dir) / artifact.path, artifact.name});
      continue;
    }
    if (artifact.name != "image") continue;
    const auto& key = artifact.key;
    if (std::find(story_order.begin(), story_order.end(), key.story) == story_order.end()) {
      story_order.push_back(key.story);
    }
    StripRow& row = rows[key.story][key.seed][key.system];
    row.system = key.system;
    const fs::path source = fs::path(run.output_dir) / artifact.path;
    auto& list = key.kind == "portrait" ? row.portraits : row.scenes;
    if (list.size() <= static_cast<std::size_t>(key.index)) list.resize(static_cast<std::size_t>(key.index) + 1);
    list[static_cast<std::size_t>(key.index)] = {
        source, key.kind == "portrait" ? labels[artifact.item] : "scene " + std::to_string(key.index)};
  }
  std::vector<std::string> chosen = options.stories;
  if (chosen.empty()) chosen = config_strip_stories(run);
  if (chosen.empty()) {
    for (const auto& story : story_order) {
      if (static_cast<int>(chosen.size()) >= options.max_strips) break;
      chosen.push_back(story);
    }
  }
  const auto prompts = story_prompts(run);
  std::vector<Strip> strips;
  for (const auto& story : chosen) {
    const auto found = rows.find(story);
    if (found == rows.end()) continue;
    const auto& [seed, by_system] = *found->second.begin();  // the first seed keeps strips short
    Strip strip;
    strip.story = story;
    strip.seed = seed;
    if (const auto p = prompts.find(story); p != prompts.end()) strip.prompts = p->second;
    for (const auto& system : systems) {
      if (const auto row = by_system.find(system); row != by_system.end()) strip.rows.push_back(row->second);
    }
    strips.push_back(std::move(strip));
  }
  return strips;
}

// Kernel results: "BM_mmsa_grouped/S:4/h:64/w:64" -> series "BM_mmsa_grouped h:64 w:64", x = S.
struct KernelPoint {
  std::string series;
  double subjects = 0;
  double milliseconds = 0;
};

std::vector<KernelPoint> kernel_points(const std::vector<store::BenchmarkResult>& results) {
  static const std::regex subjects(R"(/S:(\d+))");
  std::map<std::string, KernelPoint> latest;  // by name: a later result replaces an earlier one
  for (const auto& result : results) {
    std::smatch match;
    if (!std::regex_search(result.name, match, subjects)) continue;
    KernelPoint point;
    point.subjects = std::stod(match[1].str());
    point.series = std::regex_replace(result.name, subjects, "");
    double scale = 1e-6;  // ns -> ms
    if (result.time_unit == "us") scale = 1e-3;
    if (result.time_unit == "ms") scale = 1.0;
    if (result.time_unit == "s") scale = 1e3;
    point.milliseconds = result.real_time * scale;
    latest[result.name] = point;
  }
  std::vector<KernelPoint> points;
  for (const auto& [name, point] : latest) points.push_back(point);
  return points;
}

std::string metric_direction(const std::string& metric) {
  const auto* known = metrics::find_metric(metric);
  return known && known->higher_is_better ? "higher is better" : "lower is better";
}

}  // namespace

ReportModel build_report_model(const store::Store& store, store::RunId run_id, const ReportOptions& options) {
  ReportModel model;
  model.run = store.get_run(run_id);
  for (const auto& count : store.status_counts(run_id)) {
    model.items.total += count.count;
    if (count.status == "done") model.items.done += count.count;
    if (count.status == "failed") model.items.failed += count.count;
    if (count.status == "pending" || count.status == "running") model.items.pending += count.count;
    if (std::find(model.systems.begin(), model.systems.end(), count.system) == model.systems.end()) {
      model.systems.push_back(count.system);
    }
  }
  for (const auto& summary : store.metric_summaries(run_id)) {
    if (!is_director(summary.system)) model.summaries.push_back(summary);
  }
  for (const auto& value : store.metric_values(run_id)) {
    if (is_director(value.system) && value.story.empty()) model.director_scores.push_back(value);
  }
  model.strips = build_strips(store, model.run, model.systems, options);
  model.benchmarks = store.benchmark_results(run_id);
  if (model.benchmarks.empty()) model.benchmarks = store.benchmark_results(std::nullopt, "kernels");
  model.timings = store.stage_timings(run_id);
  return model;
}

std::string render_markdown(const ReportModel& model) {
  std::ostringstream out;
  out << "# dsbench report: run " << model.run.id << " (" << model.run.name << ")\n\n";
  out << "- status: " << model.run.status << (model.run.message.empty() ? "" : " (" + model.run.message + ")") << "\n";
  out << "- items: " << model.items.done << "/" << model.items.total << " done, " << model.items.failed << " failed\n";
  out << "- config hash: `" << model.run.config_hash << "`\n";
  out << "- started " << model.run.started_at << ", finished " << model.run.finished_at << "\n\n";
  out << "## Metrics (mean [95% bootstrap CI over stories])\n\n";
  out << "| system | metric | n | mean | 95% CI |\n|---|---|---|---|---|\n";
  for (const auto& s : model.summaries) {
    if (s.group_kind != "all") continue;
    out << "| " << s.system << " | " << s.metric << " | " << s.n << " | " << number(s.mean) << " | [" << number(s.ci_low)
        << ", " << number(s.ci_high) << "] |\n";
  }
  bool breakdown = false;
  for (const auto& s : model.summaries) breakdown = breakdown || s.group_kind != "all";
  if (breakdown) {
    out << "\n## Breakdowns\n\n| system | metric | by | group | n | mean | 95% CI |\n|---|---|---|---|---|---|---|\n";
    for (const auto& s : model.summaries) {
      if (s.group_kind == "all") continue;
      out << "| " << s.system << " | " << s.metric << " | " << s.group_kind << " | " << s.group_value << " | " << s.n
          << " | " << number(s.mean) << " | [" << number(s.ci_low) << ", " << number(s.ci_high) << "] |\n";
    }
  }
  if (!model.director_scores.empty()) {
    out << "\n## Director\n\n| backend | score | value |\n|---|---|---|\n";
    for (const auto& v : model.director_scores) {
      out << "| " << v.system.substr(9) << " | " << v.metric << " | " << number(v.value) << " |\n";
    }
  }
  if (!model.timings.empty()) {
    out << "\n## Stage timings\n\n| stage | system | seconds |\n|---|---|---|\n";
    for (const auto& t : model.timings) out << "| " << t.stage << " | " << t.system << " | " << number(t.seconds, 2) << " |\n";
  }
  out << "\nStories shown as strips in index.html: ";
  for (std::size_t i = 0; i < model.strips.size(); ++i) out << (i ? ", " : "") << model.strips[i].story;
  out << "\n";
  return out.str();
}

json render_json(const ReportModel& model) {
  json summaries = json::array();
  for (const auto& s : model.summaries) {
    summaries.push_back({{"system", s.system}, {"metric", s.metric}, {"group_kind", s.group_kind},
                         {"group_value", s.group_value}, {"n", s.n}, {"mean", s.mean}, {"std", s.std},
                         {"ci_low", s.ci_low}, {"ci_high", s.ci_high}});
  }
  json director = json::array();
  for (const auto& v : model.director_scores) {
    director.push_back({{"backend", v.system.substr(9)}, {"score", v.metric}, {"value", v.value}});
  }
  json timings = json::array();
  for (const auto& t : model.timings) timings.push_back({{"stage", t.stage}, {"system", t.system}, {"seconds", t.seconds}});
  json strips = json::array();
  for (const auto& strip : model.strips) strips.push_back({{"story", strip.story}, {"seed", strip.seed}});
  return {{"run", {{"id", model.run.id},
                   {"name", model.run.name},
                   {"status", model.run.status},
                   {"config_hash", model.run.config_hash},
                   {"started_at", model.run.started_at},
                   {"finished_at", model.run.finished_at}}},
          {"items", {{"total", model.items.total}, {"done", model.items.done}, {"failed", model.items.failed},
                     {"pending", model.items.pending}}},
          {"systems", model.systems},
          {"summaries", summaries},
          {"director", director},
          {"stage_timings", timings},
          {"benchmarks", model.benchmarks.size()},
          {"strips", strips}};
}

std::string render_html(const ReportModel& model, const std::function<std::string(const fs::path&)>& image_href) {
  using svg::escape;
  std::ostringstream out;
  out << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>dsbench report: run " << model.run.id
      << "</title>\n<style>body{font-family:sans-serif;margin:24px;max-width:1400px;color:#222}"
         "table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px}"
         "th{background:#f3f3f3}.plots{display:flex;flex-wrap:wrap;gap:12px}.strip{overflow-x:auto;margin-bottom:18px}"
         ".strip img{width:128px;height:128px;image-rendering:pixelated;border:1px solid #bbb}"
         ".cell{display:inline-block;margin:2px;vertical-align:top;width:132px;font-size:11px}"
         ".strip img.mask{width:30px;height:30px;margin:1px}.sys{font-weight:bold;margin-top:6px}.prompt{font-size:11px;color:#555}</style></head>\n<body>\n";
  out << "<h1>dsbench report: run " << model.run.id << " (" << escape(model.run.name) << ")</h1>\n";
  out << "<section id=\"summary\"><h2>Summary</h2><table>"
      << "<tr><th>status</th><td>" << escape(model.run.status) << " " << escape(model.run.message) << "</td></tr>"
      << "<tr><th>items</th><td>" << model.items.done << "/" << model.items.total << " done, " << model.items.failed
      << " failed, " << model.items.pending << " not finished</td></tr>"
      << "<tr><th>systems</th><td>";
  for (std::size_t i = 0; i < model.systems.size(); ++i) out << (i ? ", " : "") << escape(model.systems[i]);
  out << "</td></tr><tr><th>config hash</th><td><code>" << model.run.config_hash << "</code></td></tr>"
      << "<tr><th>host, version</th><td>" << escape(model.run.host) << ", " << escape(model.run.project_version)
      << "</td></tr><tr><th>started / finished</th><td>" << model.run.started_at << " / " << model.run.finished_at
      << "</td></tr></table></section>\n";

  // Metrics table and per-system plots.
  std::map<std::string, std::vector<const store::MetricSummary*>> by_metric;
  std::map<std::string, std::map<std::string, std::vector<svg::Point>>> by_subjects;  // metric -> system -> points
  for (const auto& s : model.summaries) {
    if (s.group_kind == "all") by_metric[s.metric].push_back(&s);
    if (s.group_kind == "subjects") {
      try {
        by_subjects[s.metric][s.system].push_back({std::stod(s.group_value), s.mean});
      } catch (const std::exception&) {
      }
    }
  }
  out << "<section id=\"metrics\"><h2>Metrics</h2>";
  if (by_metric.empty()) out << "<p>No metrics were computed for this run (see <code>dsbench eval</code>).</p>";
  out << "<table><tr><th>system</th><th>metric</th><th>n</th><th>mean</th><th>95% CI</th><th>direction</th></tr>";
  for (const auto& [metric, rows] : by_metric) {
    for (const auto* s : rows) {
      out << "<tr><td>" << escape(s->system) << "</td><td>" << escape(metric) << "</td><td>" << s->n << "</td><td>"
          << number(s->mean) << "</td><td>[" << number(s->ci_low) << ", " << number(s->ci_high) << "]</td><td>"
          << metric_direction(metric) << "</td></tr>";
    }
  }
  out << "</table>";
  bool breakdown = false;
  for (const auto& s : model.summaries) breakdown = breakdown || (s.group_kind != "all");
  if (breakdown) {
    out << "<h3 id=\"breakdowns\">Per category and per number of subjects</h3><table><tr><th>system</th><th>metric</th>"
           "<th>by</th><th>group</th><th>n</th><th>mean</th><th>95% CI</th></tr>";
    for (const auto& s : model.summaries) {
      if (s.group_kind == "all") continue;
      out << "<tr><td>" << escape(s.system) << "</td><td>" << escape(s.metric) << "</td><td>" << escape(s.group_kind)
          << "</td><td>" << escape(s.group_value) << "</td><td>" << s.n << "</td><td>" << number(s.mean) << "</td><td>["
          << number(s.ci_low) << ", " << number(s.ci_high) << "]</td></tr>";
    }
    out << "</table>";
  }
  out << "</section>\n<section id=\"plots\"><h2>Plots</h2><div class=\"plots\">\n";
  for (const auto& [metric, rows] : by_metric) {
    svg::BarChart chart{metric + " per system", metric + " (" + metric_direction(metric) + ")", {}};
    for (const auto* s : rows) chart.bars.push_back({s->system, s->mean, s->ci_low, s->ci_high});
    out << svg::render(chart);
  }
  for (const auto& [metric, systems] : by_subjects) {
    svg::LineChart chart{metric + " vs number of subjects", "subjects in the story", metric, false, {}};
    for (auto [system, points] : systems) {
      std::sort(points.begin(), points.end(), [](const auto& a, const auto& b) { return a.x < b.x; });
      chart.lines.push_back({system, points});
    }
    out << svg::render(chart);
  }
  const auto kernels = kernel_points(model.benchmarks);
  if (!kernels.empty()) {
    std::map<std::string, std::vector<svg::Point>> series;
    for (const auto& point : kernels) series[point.series].push_back({point.subjects, point.milliseconds});
    svg::LineChart chart{"Attention kernels vs number of subjects", "subjects S", "time per call (ms, log scale)", true, {}};
    for (auto [name, points] : series) {
      std::sort(points.begin(), points.end(), [](const auto& a, const auto& b) { return a.x < b.x; });
      chart.lines.push_back({name, points});
      if (chart.lines.size() == 10) break;
    }
    out << svg::render(chart, 720, 360);
  }
  if (!model.timings.empty()) {
    svg::BarChart chart{"Stage timings", "seconds (summed over workers)", {}};
    for (const auto& t : model.timings) chart.bars.push_back({t.stage + " " + t.system, t.seconds, t.seconds, t.seconds});
    out << svg::render(chart, 720, 320);
  }
  out << "</div></section>\n";

  if (!model.director_scores.empty()) {
    out << "<section id=\"director\"><h2>Director</h2><table><tr><th>backend</th><th>score</th><th>value</th></tr>";
    for (const auto& v : model.director_scores) {
      out << "<tr><td>" << escape(v.system.substr(9)) << "</td><td>" << escape(v.metric) << "</td><td>" << number(v.value)
          << "</td></tr>";
    }
    out << "</table></section>\n";
  }

  out << "<section id=\"strips\"><h2>Story strips</h2>";
  if (model.strips.empty()) out << "<p>No images in this run yet.</p>";
  for (const auto& strip : model.strips) {
    out << "<div class=\"strip\"><h3>" << escape(strip.story) << " (seed " << strip.seed << ")</h3>";
    for (const auto& row : strip.rows) {
      out << "<div class=\"sys\">" << escape(row.system) << "</div><div>";
      for (const auto& image : row.portraits) {
        if (image.source.empty()) continue;
        out << "<div class=\"cell\"><img src=\"" << escape(image_href(image.source)) << "\" alt=\"portrait\"><br>portrait: "
            << escape(image.caption) << "</div>";
      }
      for (std::size_t i = 0; i < row.scenes.size(); ++i) {
        const auto& image = row.scenes[i];
        if (image.source.empty()) continue;
        out << "<div class=\"cell\"><img src=\"" << escape(image_href(image.source)) << "\" alt=\"scene\"><br>"
            << escape(image.caption);
        if (i < row.scene_masks.size()) {
          for (const auto& mask : row.scene_masks[i]) {
            out << "<img class=\"mask\" src=\"" << escape(image_href(mask.source)) << "\" alt=\"" << escape(mask.caption)
                << "\" title=\"" << escape(mask.caption) << "\">";
          }
        }
        if (i < strip.prompts.size()) out << "<div class=\"prompt\">" << escape(strip.prompts[i]) << "</div>";
        out << "</div>";
      }
      out << "</div>";
    }
    out << "</div>";
  }
  out << "</section>\n";
  if (!model.timings.empty()) {
    out << "<section id=\"timings\"><h2>Stage timings</h2><table><tr><th>stage</th><th>system</th><th>seconds</th></tr>";
    for (const auto& t : model.timings) {
      out << "<tr><td>" << escape(t.stage) << "</td><td>" << escape(t.system) << "</td><td>" << number(t.seconds, 2)
          << "</td></tr>";
    }
    out << "</table></section>\n";
  }
  out << "<footer><p>Generated by dsbench from run " << model.run.id << ". Images are the run's own files.</p></footer>\n"
      << "</body></html>\n";
  return out.str();
}

ReportFiles write_report(const ReportModel& model, const fs::path& out_dir) {
  fs::create_directories(out_dir / "images");
  ReportFiles files;
  std::map<fs::path, std::string> copied;
  const auto href = [&](const fs::path& source) -> std::string {
    if (const auto found = copied.find(source); found != copied.end()) return found->second;
    const fs::path relative = fs::relative(source, model.run.output_dir);
    const fs::path target = out_dir / "images" / relative;
    std::error_code error;
    fs::create_directories(target.parent_path(), error);
    fs::copy_file(source, target, fs::copy_options::overwrite_existing, error);
    if (error) {
      throw core::RunError(source.string() + ": cannot copy the image into the report: " + error.message());
    }
    ++files.images;
    return copied[source] = ("images" / relative).generic_string();
  };
  files.html = out_dir / "index.html";
  files.markdown = out_dir / "report.md";
  files.json = out_dir / "report.json";
  core::write_file_atomic(files.html, render_html(model, href));
  core::write_file_atomic(files.markdown, render_markdown(model));
  core::write_file_atomic(files.json, render_json(model).dump(2) + "\n");
  return files;
}

}  // namespace dsbench::reports
