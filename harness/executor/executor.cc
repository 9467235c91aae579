#include "harness/executor/executor.h"

namespace dsbench::executor {

core::ExitCode Outcome::exit_code() const {
  return status == "finished" && failed_total == 0 && !interrupted ? core::ExitCode::kOk : core::ExitCode::kRunFailure;
}

Outcome execute(const harness::RunConfig&, const Options&, const SystemFactory&) {
  throw core::RunError("running needs the run store (harness/store), which has not landed in this build yet; "
                       "use --dry-run to see the plan");
}

}  // namespace dsbench::executor
