#pragma once
// Typed errors. Every error a user can cause names where it came from (file, line, field) so the
// CLI can print it and exit 2 instead of crashing.
#include <stdexcept>
#include <string>

namespace ringlab {

/// Base of every error ringlab throws on purpose.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Bad user input (a YAML/JSON file, an IR file, a --set override); what() reads
/// "FILE:LINE:COL: field 'a.b': message".
class InputError : public Error {
 public:
  /// Builds the message from its parts; line/column are 1-based, 0 when unknown.
  InputError(std::string file, int line, int column, std::string field, std::string message);
  [[nodiscard]] const std::string& file() const noexcept { return file_; }  ///< the source file
  [[nodiscard]] int line() const noexcept { return line_; }                 ///< 1-based line, 0 if unknown
  [[nodiscard]] const std::string& field() const noexcept { return field_; }  ///< dotted field path
  [[nodiscard]] const std::string& reason() const noexcept { return reason_; }  ///< the message, without where

 private:
  std::string file_;
  int line_;
  std::string field_;
  std::string reason_;
};

/// A schedule that breaks the IR contract (unmatched send, cycle, deadlock, bad buffer).
class ValidationError : public Error {
 public:
  using Error::Error;
};

}  // namespace ringlab
