// Small text helpers shared by the config, dataset and CLI error messages.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace dsbench::core {

std::size_t edit_distance(std::string_view a, std::string_view b);

// The candidate closest to `word` if it is a plausible typo (distance <= max(2, |word|/3)),
// else empty. Used for "did you mean" hints.
std::string closest_match(std::string_view word, const std::vector<std::string>& candidates);

// " (did you mean 'x'?)" or "" — ready to append to a message.
std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates);

std::string trim(std::string_view text);
std::string to_lower_ascii(std::string_view text);
std::vector<std::string> split(std::string_view text, char separator);
std::string join(const std::vector<std::string>& parts, std::string_view separator);

}  // namespace dsbench::core
