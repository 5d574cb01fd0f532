// Placeholder: ringlab calibrate arrives with its issue.
#include "commands.hpp"

namespace ringlab::app {
void add_calibrate_command(CLI::App& /*app*/, int& /*exit_code*/) {}
}  // namespace ringlab::app
