// `--set key.path=value` overrides, applied to the merged document before validation.
// Internal to harness/config.
#pragma once

#include <string>

#include "harness/config/source_tree.h"

namespace dsbench::harness::config_detail {

// One override, "systems[1].params.lambda=0.8": the path is checked against the schema
// (unknown keys get a "did you mean"), the value is parsed as YAML (so "[1, 2]" is a
// list), maps merge into what is there, anything else replaces it. A list index equal to
// the list's length appends. Problems name the override; returns false on one.
bool apply_override(Node& document, const std::string& override_text, Problems& problems);

}  // namespace dsbench::harness::config_detail
