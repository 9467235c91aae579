#include "harness/executor/progress.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <unistd.h>

namespace dsbench::executor {
namespace {

double monotonic_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string counts_text(const ProgressState& state) {
  std::ostringstream out;
  out << state.done << "/" << state.total << " items";
  return out.str();
}

std::string rate_text(const ProgressState& state) {
  if (state.rate <= 0.0) return "-- items/s";
  std::ostringstream out;
  out.precision(state.rate < 10 ? 2 : 1);
  out << std::fixed << state.rate << " items/s";
  return out.str();
}

}  // namespace

std::string format_duration(double seconds) {
  if (seconds < 0 || !std::isfinite(seconds)) return "?";
  const long long total = std::llround(seconds);
  const long long hours = total / 3600, minutes = (total % 3600) / 60, secs = total % 60;
  char buffer[32];
  if (hours > 0) {
    std::snprintf(buffer, sizeof buffer, "%lldh%02lldm", hours, minutes);
  } else if (minutes > 0) {
    std::snprintf(buffer, sizeof buffer, "%lldm%02llds", minutes, secs);
  } else {
    std::snprintf(buffer, sizeof buffer, "%llds", secs);
  }
  return buffer;
}

std::string format_line(const ProgressState& state) {
  std::ostringstream out;
  const double percent = state.total == 0 ? 100.0 : 100.0 * static_cast<double>(state.done) / state.total;
  out.precision(1);
  out << "progress: " << counts_text(state) << " (" << std::fixed << percent << "%), " << state.failed
      << " failed, " << rate_text(state) << ", ETA " << format_duration(state.eta_seconds);
  return out.str();
}

std::string format_bar(const ProgressState& state, std::size_t width) {
  std::string tail = "  " + counts_text(state);
  if (state.failed > 0) tail += "  " + std::to_string(state.failed) + " failed";
  tail += "  " + rate_text(state) + "  ETA " + format_duration(state.eta_seconds);
  const std::size_t bar_width = width > tail.size() + 12 ? std::min<std::size_t>(40, width - tail.size() - 2) : 10;
  const double fraction = state.total == 0 ? 1.0 : std::min(1.0, static_cast<double>(state.done) / state.total);
  const auto filled = static_cast<std::size_t>(std::floor(fraction * static_cast<double>(bar_width)));
  return "[" + std::string(filled, '#') + std::string(bar_width - filled, '.') + "]" + tail;
}

bool is_terminal(const std::ostream& stream) {
  if (&stream == &std::cerr || &stream == &std::clog) return ::isatty(STDERR_FILENO) == 1;
  if (&stream == &std::cout) return ::isatty(STDOUT_FILENO) == 1;
  return false;
}

Progress::Progress(std::ostream& out, bool terminal, double interval_seconds, std::size_t total, std::size_t done,
                   std::size_t failed, Clock clock)
    : out_(out),
      terminal_(terminal),
      interval_(interval_seconds),
      clock_(clock ? std::move(clock) : Clock(monotonic_seconds)),
      total_(total),
      done_(done),
      failed_(failed),
      started_(clock_()) {}

ProgressState Progress::state() const {
  ProgressState state;
  state.done = done_;
  state.failed = failed_;
  state.total = total_;
  const double elapsed = clock_() - started_;
  if (finished_here_ > 0 && elapsed > 0) {
    state.rate = static_cast<double>(finished_here_) / elapsed;
    const std::size_t remaining = total_ > done_ ? total_ - done_ : 0;
    state.eta_seconds = static_cast<double>(remaining) / state.rate;
  } else if (done_ >= total_) {
    state.eta_seconds = 0;
  }
  return state;
}

void Progress::item_finished(bool ok) {
  ++finished_here_;
  ++done_;
  if (!ok) ++failed_;
  maybe_print(false);
}

void Progress::set_counts(std::size_t done, std::size_t failed) {
  done_ = done;
  failed_ = failed;
  maybe_print(false);
}

void Progress::finish() {
  maybe_print(true);
  if (terminal_ && printed_bar_) out_ << "\n";
  out_.flush();
}

void Progress::maybe_print(bool force) {
  const double now = clock_();
  // A terminal bar is cheap to redraw; a log line every `interval_` seconds is enough.
  const double interval = terminal_ ? std::min(interval_, 0.2) : interval_;
  if (!force && now - last_print_ < interval) return;
  last_print_ = now;
  if (terminal_) {
    out_ << "\r" << format_bar(state()) << "\x1b[K";
    printed_bar_ = true;
  } else {
    // The same counts twice in a log say nothing new (e.g. a final line right after one).
    const ProgressState now_state = state();
    const std::string counts = std::to_string(now_state.done) + "/" + std::to_string(now_state.failed) + "/" +
                               std::to_string(now_state.total);
    if (counts == last_counts_) return;
    last_counts_ = counts;
    out_ << format_line(now_state) << "\n";
  }
  out_.flush();
}

}  // namespace dsbench::executor
