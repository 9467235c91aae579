// Progress of a run: on a terminal a one-line bar redrawn in place (done/total, failed,
// rate, ETA); otherwise (logs, CI, Slurm output files) a plain line every few seconds.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <ostream>
#include <string>

namespace dsbench::executor {

struct ProgressState {
  std::size_t done = 0;     // finished items (this run, all workers' earlier work included)
  std::size_t failed = 0;
  std::size_t total = 0;
  double rate = 0.0;        // items per second finished by this process; 0 = not yet known
  double eta_seconds = -1;  // < 0 = unknown
};

// "[#####.....]  12/40 items  1 failed  0.53 items/s  ETA 52s" in `width` columns.
std::string format_bar(const ProgressState& state, std::size_t width = 80);
// "progress: 12/40 items (30.0%), 1 failed, 0.53 items/s, ETA 52s"
std::string format_line(const ProgressState& state);
// "52s", "3m07s", "2h05m", "?" for negative
std::string format_duration(double seconds);

class Progress {
 public:
  using Clock = std::function<double()>;  // seconds, monotonic

  // `done`/`failed` are what earlier runs (or other workers) already finished.
  Progress(std::ostream& out, bool terminal, double interval_seconds, std::size_t total, std::size_t done,
           std::size_t failed, Clock clock = {});

  // One item finished by this process.
  void item_finished(bool ok);
  // The counts as the store sees them (other workers progress too); redraws if due.
  void set_counts(std::size_t done, std::size_t failed);
  // Prints the final state (and ends the bar's line on a terminal).
  void finish();
  ProgressState state() const;

 private:
  void maybe_print(bool force);

  std::ostream& out_;
  bool terminal_;
  double interval_;
  Clock clock_;
  std::size_t total_;
  std::size_t done_;
  std::size_t failed_;
  std::size_t finished_here_ = 0;
  double started_;
  double last_print_ = -1e300;
  bool printed_bar_ = false;
  std::string last_counts_;
};

// Whether `stream` is standard error/output attached to a terminal.
bool is_terminal(const std::ostream& stream);

}  // namespace dsbench::executor
