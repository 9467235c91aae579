// Graceful stop: while a StopSignals lives, SIGINT and SIGTERM only set a flag that the
// executor checks between items, so the current item finishes and the run is marked
// interrupted. A second signal of the same kind takes the default action (kills).
#pragma once

namespace dsbench::executor {

class StopSignals {
 public:
  StopSignals();   // installs the handlers (one instance at a time)
  ~StopSignals();  // restores the previous handlers
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  static bool requested();
  static int signal_number();  // 0 when none arrived
  static void reset();         // for tests
};

}  // namespace dsbench::executor
