// ringlab: predict (simulate) and measure (run) ring attention schedules.
#include <fmt/core.h>

#include <exception>

#include "commands.hpp"
#include "ringlab/core/error.hpp"

int main(int argc, char** argv) {
  CLI::App app{"ringlab: predict and measure ring attention on GPU clusters", "ringlab"};
  app.require_subcommand(1);
  int exit_code = 0;
  ringlab::app::add_schedule_command(app, exit_code);
  ringlab::app::add_topology_command(app, exit_code);
  ringlab::app::add_simulate_command(app, exit_code);
  ringlab::app::add_run_command(app, exit_code);
  ringlab::app::add_report_command(app, exit_code);
  ringlab::app::add_calibrate_command(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  } catch (const ringlab::InputError& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 2;
  } catch (const ringlab::ValidationError& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
  return exit_code;
}
