#include "reports/svg.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

namespace dsbench::reports::svg {
namespace {

const char* kPalette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                          "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

struct Frame {
  double left = 64, right = 16, top = 32, bottom = 56;
  int width = 0, height = 0;
  double plot_width() const { return width - left - right; }
  double plot_height() const { return height - top - bottom; }
};

std::string fmt(double value) {
  char text[32];
  if (value != 0.0 && (std::abs(value) >= 1e5 || std::abs(value) < 1e-3)) {
    std::snprintf(text, sizeof text, "%.2g", value);
  } else {
    std::snprintf(text, sizeof text, "%.4g", value);
  }
  return text;
}

// "Nice" tick values covering [low, high].
std::vector<double> ticks(double low, double high, int wanted = 5) {
  if (!(high > low)) high = low + 1.0;
  const double raw = (high - low) / wanted;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = magnitude;
  for (const double factor : {1.0, 2.0, 2.5, 5.0, 10.0}) {
    step = factor * magnitude;
    if (step >= raw) break;
  }
  std::vector<double> values;
  for (double v = std::ceil(low / step) * step; v <= high + step * 1e-9; v += step) values.push_back(v);
  return values;
}

void open(std::ostringstream& out, const Frame& frame, const std::string& title, const std::string& y_label) {
  out << "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" width=\"" << frame.width << "\" height=\""
      << frame.height << "\" viewBox=\"0 0 " << frame.width << " " << frame.height << "\" role=\"img\" aria-label=\""
      << escape(title) << "\">\n";
  out << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  out << "<text x=\"" << frame.width / 2 << "\" y=\"18\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">"
      << escape(title) << "</text>\n";
  out << "<text transform=\"translate(14," << frame.top + frame.plot_height() / 2
      << ") rotate(-90)\" text-anchor=\"middle\" font-size=\"11\">" << escape(y_label) << "</text>\n";
}

void y_axis(std::ostringstream& out, const Frame& frame, double low, double high, bool log_y) {
  const double x0 = frame.left;
  const double y_bottom = frame.top + frame.plot_height();
  out << "<line x1=\"" << x0 << "\" y1=\"" << frame.top << "\" x2=\"" << x0 << "\" y2=\"" << y_bottom
      << "\" stroke=\"black\"/>\n";
  out << "<line x1=\"" << x0 << "\" y1=\"" << y_bottom << "\" x2=\"" << frame.left + frame.plot_width() << "\" y2=\""
      << y_bottom << "\" stroke=\"black\"/>\n";
  for (const double tick : ticks(low, high)) {
    const double y = y_bottom - (tick - low) / (high - low) * frame.plot_height();
    const double shown = log_y ? std::pow(10.0, tick) : tick;
    out << "<line x1=\"" << x0 - 4 << "\" y1=\"" << y << "\" x2=\"" << frame.left + frame.plot_width() << "\" y2=\"" << y
        << "\" stroke=\"#ddd\"/>\n";
    out << "<text x=\"" << x0 - 6 << "\" y=\"" << y + 4 << "\" text-anchor=\"end\" font-size=\"10\">" << fmt(shown)
        << "</text>\n";
  }
}

}  // namespace

std::string escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string render(const BarChart& chart, int width, int height) {
  Frame frame;
  frame.width = width;
  frame.height = height;
  std::ostringstream out;
  open(out, frame, chart.title, chart.y_label);
  double low = 0.0;
  double high = 0.0;
  for (const auto& bar : chart.bars) {
    for (const double v : {bar.value, bar.low, bar.high}) {
      if (std::isfinite(v)) {
        low = std::min(low, v);
        high = std::max(high, v);
      }
    }
  }
  if (!(high > low)) high = low + 1.0;
  high += (high - low) * 0.05;
  y_axis(out, frame, low, high, false);
  const double y_bottom = frame.top + frame.plot_height();
  auto y_of = [&](double v) { return y_bottom - (v - low) / (high - low) * frame.plot_height(); };
  const double slot = chart.bars.empty() ? 1.0 : frame.plot_width() / static_cast<double>(chart.bars.size());
  for (std::size_t i = 0; i < chart.bars.size(); ++i) {
    const auto& bar = chart.bars[i];
    const double x = frame.left + slot * static_cast<double>(i) + slot * 0.2;
    const double w = slot * 0.6;
    const double value = std::isfinite(bar.value) ? bar.value : 0.0;
    const double top = y_of(std::max(value, 0.0));
    const double base = y_of(std::min(value, 0.0));
    out << "<rect class=\"bar\" x=\"" << x << "\" y=\"" << top << "\" width=\"" << w << "\" height=\""
        << std::max(0.5, base - top) << "\" fill=\"" << kPalette[i % 10] << "\"><title>" << escape(bar.label) << ": "
        << fmt(bar.value) << " [" << fmt(bar.low) << ", " << fmt(bar.high) << "]</title></rect>\n";
    if (std::isfinite(bar.low) && std::isfinite(bar.high) && bar.high > bar.low) {
      const double cx = x + w / 2;
      out << "<path class=\"ci\" d=\"M" << cx << " " << y_of(bar.low) << " V" << y_of(bar.high) << " M" << cx - 6 << " "
          << y_of(bar.low) << " H" << cx + 6 << " M" << cx - 6 << " " << y_of(bar.high) << " H" << cx + 6
          << "\" stroke=\"black\" fill=\"none\"/>\n";
    }
    out << "<text x=\"" << x + w / 2 << "\" y=\"" << y_bottom + 14 << "\" text-anchor=\"middle\" font-size=\"10\">"
        << escape(bar.label.substr(0, 22)) << "</text>\n";
  }
  out << "<text x=\"" << frame.left + frame.plot_width() << "\" y=\"" << height - 8
      << "\" text-anchor=\"end\" font-size=\"10\">whiskers: 95 % bootstrap CI over stories</text>\n";
  out << "</svg>\n";
  return out.str();
}

std::string render(const LineChart& chart, int width, int height) {
  Frame frame;
  frame.width = width;
  frame.height = height;
  frame.right = 150;  // legend
  std::ostringstream out;
  open(out, frame, chart.title, chart.y_label);
  double x_low = std::numeric_limits<double>::infinity(), x_high = -x_low;
  double y_low = x_low, y_high = -x_low;
  auto y_value = [&](double y) { return chart.log_y ? std::log10(std::max(y, 1e-300)) : y; };
  for (const auto& line : chart.lines) {
    for (const auto& p : line.points) {
      if (!std::isfinite(p.y) || (chart.log_y && p.y <= 0)) continue;
      x_low = std::min(x_low, p.x);
      x_high = std::max(x_high, p.x);
      y_low = std::min(y_low, y_value(p.y));
      y_high = std::max(y_high, y_value(p.y));
    }
  }
  if (!std::isfinite(x_low)) x_low = 0, x_high = 1, y_low = 0, y_high = 1;
  if (!(x_high > x_low)) x_high = x_low + 1;
  if (!chart.log_y) y_low = std::min(y_low, 0.0);
  if (!(y_high > y_low)) y_high = y_low + 1;
  y_high += (y_high - y_low) * 0.05;
  y_axis(out, frame, y_low, y_high, chart.log_y);
  const double y_bottom = frame.top + frame.plot_height();
  auto px = [&](double x) { return frame.left + (x - x_low) / (x_high - x_low) * frame.plot_width(); };
  auto py = [&](double y) { return y_bottom - (y_value(y) - y_low) / (y_high - y_low) * frame.plot_height(); };
  for (const double tick : ticks(x_low, x_high)) {
    out << "<text x=\"" << px(tick) << "\" y=\"" << y_bottom + 14 << "\" text-anchor=\"middle\" font-size=\"10\">"
        << fmt(tick) << "</text>\n";
  }
  out << "<text x=\"" << frame.left + frame.plot_width() / 2 << "\" y=\"" << height - 10
      << "\" text-anchor=\"middle\" font-size=\"11\">" << escape(chart.x_label) << "</text>\n";
  for (std::size_t i = 0; i < chart.lines.size(); ++i) {
    const auto& line = chart.lines[i];
    std::ostringstream path;
    bool first = true;
    for (const auto& p : line.points) {
      if (!std::isfinite(p.y) || (chart.log_y && p.y <= 0)) continue;
      path << (first ? "M" : " L") << px(p.x) << " " << py(p.y);
      first = false;
      out << "<circle cx=\"" << px(p.x) << "\" cy=\"" << py(p.y) << "\" r=\"3\" fill=\"" << kPalette[i % 10]
          << "\"><title>" << escape(line.name) << ": x=" << fmt(p.x) << ", y=" << fmt(p.y) << "</title></circle>\n";
    }
    out << "<path class=\"series\" d=\"" << path.str() << "\" stroke=\"" << kPalette[i % 10]
        << "\" stroke-width=\"2\" fill=\"none\"/>\n";
    const double ly = frame.top + 14.0 * static_cast<double>(i);
    const double lx = frame.left + frame.plot_width() + 10;
    out << "<rect x=\"" << lx << "\" y=\"" << ly << "\" width=\"10\" height=\"10\" fill=\"" << kPalette[i % 10]
        << "\"/><text class=\"legend\" x=\"" << lx + 14 << "\" y=\"" << ly + 9 << "\" font-size=\"10\">"
        << escape(line.name.substr(0, 24)) << "</text>\n";
  }
  out << "</svg>\n";
  return out.str();
}

}  // namespace dsbench::reports::svg
