// The store's schema as a list of forward migrations (schema.cc).
#pragma once

#include <string>
#include <vector>

namespace dsbench::store::schema {

// migrations()[i] takes a store from PRAGMA user_version i to i + 1.
const std::vector<std::string>& migrations();

}  // namespace dsbench::store::schema
