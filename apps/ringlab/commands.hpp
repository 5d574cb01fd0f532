#pragma once
// Each subcommand lives in its own file and registers itself on the app; `exit_code` receives what
// main returns (0 ok, 1 the run failed, 2 bad input).
#include <CLI/CLI.hpp>

namespace ringlab::app {

void add_schedule_command(CLI::App& app, int& exit_code);   ///< ringlab schedule / validate / version
void add_topology_command(CLI::App& app, int& exit_code);   ///< ringlab topology
void add_simulate_command(CLI::App& app, int& exit_code);   ///< ringlab simulate / sweep
void add_run_command(CLI::App& app, int& exit_code);        ///< ringlab run
void add_report_command(CLI::App& app, int& exit_code);     ///< ringlab compare
void add_calibrate_command(CLI::App& app, int& exit_code);  ///< ringlab calibrate

}  // namespace ringlab::app
