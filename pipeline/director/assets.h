// The templates and schema files of this folder, compiled into the library (CMake
// generates the table from templates/*.txt and schema/*.json), so the binary works from
// any directory and a call's template hash names exactly the text that was sent.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

namespace dsbench::director {

// `relative_path` as in the source folder: "templates/director_v1.system.txt".
std::optional<std::string_view> embedded_asset(std::string_view relative_path);
std::vector<std::string_view> embedded_asset_names();

}  // namespace dsbench::director
