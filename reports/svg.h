// Small inline-SVG charts for the HTML report: no scripts, no fonts to fetch, readable
// axes, units and legends. Two kinds are enough for dsbench's plots: grouped bars with
// 95 % CI whiskers (a metric per system) and lines over a numeric x (a metric or kernel
// throughput vs number of subjects).
#pragma once

#include <string>
#include <vector>

namespace dsbench::reports::svg {

struct Bar {
  std::string label;  // x category (e.g. the system)
  double value = 0.0;
  double low = 0.0;   // CI whisker; equal to value for none
  double high = 0.0;
};

struct BarChart {
  std::string title;
  std::string y_label;  // with unit, e.g. "DreamSim distance (lower is better)"
  std::vector<Bar> bars;
};

struct Point {
  double x = 0.0;
  double y = 0.0;
};

struct Line {
  std::string name;  // legend entry
  std::vector<Point> points;
};

struct LineChart {
  std::string title;
  std::string x_label;
  std::string y_label;
  bool log_y = false;
  std::vector<Line> lines;
};

std::string render(const BarChart& chart, int width = 560, int height = 320);
std::string render(const LineChart& chart, int width = 560, int height = 320);

std::string escape(const std::string& text);  // XML/HTML text escaping

}  // namespace dsbench::reports::svg
