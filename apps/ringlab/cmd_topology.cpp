// Placeholder: the topology subcommands arrive with their issue.
#include "commands.hpp"

namespace ringlab::app {
void add_topology_command(CLI::App& /*app*/, int& /*exit_code*/) {}
}  // namespace ringlab::app
