#pragma once
// Chrome trace JSON (the "Trace Event Format"): opens in Perfetto and chrome://tracing. One complete
// event ('X') per op with pid = rank and tid = stream; the schedule hash rides in "otherData".
#include <string>
#include <string_view>

#include "ringlab/trace/record.hpp"

namespace ringlab::trace {

/// The trace as Chrome trace JSON text: timestamps in microseconds written with exactly six decimals
/// (so picosecond times survive a round trip), records sorted by (rank, start, op), metadata events
/// naming every process ("rank R") and thread (the stream), and
/// "otherData": {"schedule_hash", "source", "ranks"}.
[[nodiscard]] std::string to_chrome_json(const Trace& trace);

/// Parses what to_chrome_json wrote (other 'X' events need args phase and op); `label` names the
/// text in errors. Throws InputError naming the label and the offending event.
[[nodiscard]] Trace from_chrome_json(std::string_view text, const std::string& label);

/// Writes to_chrome_json(trace) to `path` atomically.
void write_chrome_trace(const std::string& path, const Trace& trace);

/// Reads a file written by write_chrome_trace; a missing file or bad content is an InputError.
[[nodiscard]] Trace read_chrome_trace(const std::string& path);

/// Name of a stream as traces show it ("compute", "comm", "compute_aux", "comm_aux").
[[nodiscard]] const char* stream_name(ir::Stream stream) noexcept;

}  // namespace ringlab::trace
