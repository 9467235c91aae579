#include "pipeline/systems/registry.h"

#include <algorithm>
#include <functional>

#include "core/errors.h"
#include "core/text.h"
#include "pipeline/systems/consistory.h"
#include "pipeline/systems/dreamstory.h"
#include "pipeline/systems/storydiffusion.h"
#include "pipeline/systems/vanilla.h"

namespace dsbench::systems {

namespace {

using Factory = std::function<std::unique_ptr<System>(const nlohmann::json& params, const ModelSettings& model)>;

// One line per system type. A factory checks its params before it loads a model (so a
// config error costs nothing) and gets the pipeline from shared_pipeline (sd_common.h).
// Ablations are entries whose factory fixes some params of their parent system.
// Only systems that exist are listed: a config naming a planned one gets an InputError.
const std::vector<std::pair<std::string, Factory>>& factories() {
  static const std::vector<std::pair<std::string, Factory>> table = {
      {"vanilla", make_vanilla_system},
      {"dreamstory", make_dreamstory_system},
      {"dreamstory-no-mmsa", make_dreamstory_no_mmsa_system},
      {"dreamstory-no-mmca", make_dreamstory_no_mmca_system},
      {"dreamstory-no-masks", make_dreamstory_no_masks_system},
      {"dreamstory-no-rewrite", make_dreamstory_no_rewrite_system},
      {"storydiffusion", make_storydiffusion_system},
      {"consistory", make_consistory_system},
  };
  return table;
}

}  // namespace

std::unique_ptr<System> create_system(const std::string& type, const nlohmann::json& params,
                                      const ModelSettings& model) {
  for (const auto& [name, factory] : factories()) {
    if (name == type) return factory(params, model);
  }
  const auto names = system_types();
  throw core::InputError(core::Location{"", 0, "system.type"},
                         "a known system type (" + core::join(names, ", ") + "), got '" + type + "'" +
                             core::did_you_mean(type, names));
}

std::vector<std::string> system_types() {
  std::vector<std::string> names;
  for (const auto& entry : factories()) names.push_back(entry.first);
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace dsbench::systems
