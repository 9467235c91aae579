// A seeded byte-level mutator for the fuzz tests: the same seed gives the same inputs,
// so a failing case is reproduced by its trial number alone.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <algorithm>

namespace dsbench::fuzz {

class Mutator {
 public:
  explicit Mutator(std::uint64_t seed) : random_(seed) {}

  // 1..max_edits edits of `seed_input`: bit flips, byte overwrites with interesting
  // values, insertions and deletions of short runs, chunk duplication and truncation.
  std::string mutate(std::string input, int max_edits = 6) {
    const int edits = 1 + static_cast<int>(below(static_cast<std::uint64_t>(max_edits)));
    for (int i = 0; i < edits; ++i) edit(input);
    return input;
  }

  std::uint64_t below(std::uint64_t bound) { return bound == 0 ? 0 : random_() % bound; }

 private:
  void edit(std::string& input) {
    if (input.empty()) {
      input.push_back(static_cast<char>(below(256)));
      return;
    }
    const std::size_t at = below(input.size());
    switch (below(8)) {
      case 0: input[at] = static_cast<char>(input[at] ^ (1u << below(8))); break;
      case 1: input[at] = kInteresting[below(sizeof(kInteresting) - 1)]; break;
      case 2: input.insert(at, 1 + below(8), kInteresting[below(sizeof(kInteresting) - 1)]); break;
      case 3: input.erase(at, 1 + below(16)); break;
      case 4: input.resize(at); break;  // truncation
      case 5: {
        const std::size_t length = 1 + below(std::min<std::size_t>(64, input.size() - at));
        input.insert(below(input.size()), input.substr(at, length));
        break;
      }
      case 6: input[at] = static_cast<char>(below(256)); break;
      default: {  // a digit run becomes a huge or negative number
        const char* numbers[] = {"-1", "0", "4294967296", "18446744073709551615", "1e308", "-9999999999", "NaN"};
        input.insert(at, numbers[below(7)]);
        break;
      }
    }
  }

  static constexpr char kInteresting[] = "{}[]\":,\\-0\n\t #&*!|>%@'\xff\xc3\x00";
  std::mt19937_64 random_;
};

}  // namespace dsbench::fuzz
