#pragma once
// Lossless YAML and JSON (de)serialisation of schedules, and their stable content hash.
#include <memory>
#include <string>

#include "ringlab/ir/schedule.hpp"
#include "ringlab/ir/source.hpp"

namespace ringlab::ir {

/// Version written into every file; loading another version is an error.
inline constexpr int kFormatVersion = 1;

/// The schedule as compact JSON text.
[[nodiscard]] std::string to_json(const Schedule& s);
/// The schedule as YAML text (one op per line, flow style).
[[nodiscard]] std::string to_yaml(const Schedule& s);
/// Parses YAML or JSON text (`label` names it in errors); unknown keys and bad values are InputErrors
/// naming file, line and field. Does not run the validator.
[[nodiscard]] Schedule parse_schedule(const std::string& text, const std::string& label);
/// Reads a schedule file (.yaml, .yml or .json).
[[nodiscard]] Schedule load_schedule(const std::string& path);
/// Writes a schedule atomically; the format follows the extension (.json, else YAML).
void save_schedule(const Schedule& s, const std::string& path);

/// A stable 64-bit content hash (FNV-1a over every field in a fixed order), as 16 hex digits. Equal
/// schedules hash equal on every platform; any change of a field changes it.
[[nodiscard]] std::string schedule_hash(const Schedule& s);
/// The same hash, reading the ranks one at a time (equal to schedule_hash of the materialised schedule).
[[nodiscard]] std::string schedule_hash(const ScheduleSource& source);

/// schedule_hash fed incrementally, for a consumer that reads the ranks anyway (the simulator's compile
/// step): construct with the header, add every rank's program in order, then take the value.
class ScheduleHasher {
 public:
  explicit ScheduleHasher(const Schedule& header);  ///< hashes everything but the ranks' programs
  ~ScheduleHasher();
  ScheduleHasher(const ScheduleHasher&) = delete;
  ScheduleHasher& operator=(const ScheduleHasher&) = delete;
  void add_rank(const RankProgram& rank);  ///< the next rank (0, 1, ...); throws std::logic_error past the last
  /// The hash (as schedule_hash gives it); throws std::logic_error unless every rank was added.
  [[nodiscard]] std::string value();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

/// Name of an enum value as written in files.
[[nodiscard]] const char* to_string(DType v) noexcept;
[[nodiscard]] const char* to_string(Pass v) noexcept;           ///< as in files
[[nodiscard]] const char* to_string(PartitionKind v) noexcept;  ///< as in files
[[nodiscard]] const char* to_string(BufferRole v) noexcept;     ///< as in files
[[nodiscard]] const char* to_string(Stream v) noexcept;         ///< as in files
[[nodiscard]] const char* to_string(Mask v) noexcept;           ///< as in files

}  // namespace ringlab::ir
