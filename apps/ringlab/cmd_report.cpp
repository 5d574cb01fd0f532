// Placeholder: the report subcommands arrive with their issue.
#include "commands.hpp"

namespace ringlab::app {
void add_report_command(CLI::App& /*app*/, int& /*exit_code*/) {}
}  // namespace ringlab::app
