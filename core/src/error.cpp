#include "ringlab/core/error.hpp"

#include <fmt/format.h>

namespace ringlab {

namespace {
std::string format_input_error(const std::string& file, int line, int column, const std::string& field,
                               const std::string& message) {
  std::string where = file;
  if (line > 0) where += fmt::format(":{}", line);
  if (line > 0 && column > 0) where += fmt::format(":{}", column);
  if (field.empty()) return fmt::format("{}: {}", where, message);
  return fmt::format("{}: field '{}': {}", where, field, message);
}
}  // namespace

InputError::InputError(std::string file, int line, int column, std::string field, std::string message)
    : Error(format_input_error(file, line, column, field, message)),
      file_(std::move(file)),
      line_(line),
      field_(std::move(field)),
      reason_(std::move(message)) {}

}  // namespace ringlab
