#include "commands.hpp"
namespace ringlab::app {
void add_schedule_command(CLI::App& /*app*/, int& /*exit_code*/) {}
}  // namespace ringlab::app
