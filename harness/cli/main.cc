// The one place errors are caught: every core::Error carries its exit code and context.
#include <exception>
#include <iomanip>
#include <iostream>

#include "core/errors.h"
#include "core/text.h"
#include "harness/cli/command.h"

namespace {

void print_overview() {
  std::cout << "usage: dsbench <command> [options]   (dsbench <command> --help for details)\n\n"
               "commands:\n";
  for (const auto& command : dsbench::cli::commands()) {
    std::cout << "  " << std::left << std::setw(16) << command.name << command.summary << "\n";
  }
  std::cout << "\nexit codes: 0 ok, 1 run failure, 2 usage/config/data error, 3 regression found\n";
}

int dispatch(int argc, char** argv) {
  using dsbench::core::InputError;
  if (argc < 2) {
    print_overview();
    return 2;
  }
  const std::string name = argv[1];
  if (name == "--help" || name == "-h" || name == "help") {
    print_overview();
    return 0;
  }
  // Two-word commands ("bench unet", "model info") are registered under both words.
  if (argc >= 3) {
    const std::string two_words = name + " " + argv[2];
    for (const auto& command : dsbench::cli::commands()) {
      if (command.name == two_words) return command.run({argv + 3, argv + argc});
    }
  }
  std::vector<std::string> names;
  for (const auto& command : dsbench::cli::commands()) {
    if (command.name == name) return command.run({argv + 2, argv + argc});
    names.push_back(command.name);
  }
  throw InputError("unknown command '" + name + "'" + dsbench::core::did_you_mean(name, names) +
                   "; run 'dsbench --help' for the list");
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return dispatch(argc, argv);
  } catch (const dsbench::core::Error& e) {
    std::cerr << "dsbench: error: " << e.what() << "\n";
    return static_cast<int>(e.code());
  } catch (const std::exception& e) {
    std::cerr << "dsbench: internal error: " << e.what() << "\n";
    return 1;
  }
}
