#include "core/errors.h"

namespace dsbench::core {

std::string Location::to_string() const {
  std::string out = file;
  if (line > 0) out += (out.empty() ? "line " : ":") + std::to_string(line);
  if (!field.empty()) out += (out.empty() ? "" : ": ") + field;
  return out;
}

InputError::InputError(const Location& where, const std::string& message)
    : Error(ExitCode::kInputError,
            where.to_string().empty() ? message : where.to_string() + ": " + message),
      where_(where) {}

}  // namespace dsbench::core
