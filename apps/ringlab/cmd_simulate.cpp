// Placeholder: the simulate subcommands arrive with their issue.
#include "commands.hpp"

namespace ringlab::app {
void add_simulate_command(CLI::App& /*app*/, int& /*exit_code*/) {}
}  // namespace ringlab::app
