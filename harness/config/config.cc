#include "harness/config/config.h"

namespace dsbench::harness {

RunConfig load_config(const std::filesystem::path& path, const std::vector<std::string>&) {
  throw core::InputError(core::Location{path.string(), 0, ""}, "config loading is not implemented yet");
}

RunConfig config_from_resolved(const nlohmann::json&) {
  throw core::InputError("config loading is not implemented yet");
}

std::vector<core::InputError> check_config(const std::filesystem::path& path, const std::vector<std::string>&) {
  return {core::InputError(core::Location{path.string(), 0, ""}, "config loading is not implemented yet")};
}

}  // namespace dsbench::harness
