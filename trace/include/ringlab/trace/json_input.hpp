#pragma once
// JSON that users hand ringlab (traces, summaries, for `compare`): nlohmann's parser, but refusing what
// it would accept silently. An object that repeats a key is taken by nlohmann with one copy's value
// (the last), so a hand-edited or foreign trace with `"dur"` twice would be compared with a number the
// user never meant: that is an error naming the file, the key's line and column, and its path, as the
// YAML reader does. Include only where nlohmann is a dependency already (trace, report).
#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

#include "ringlab/trace/record.hpp"

namespace ringlab::trace {

/// `text` parsed. Throws InputError naming `file` with the line and column when it is not JSON, and with
/// the line, column and path (`traceEvents[3].args.phase`) of the second copy when an object repeats a key.
[[nodiscard]] nlohmann::json parse_json_input(std::string_view text, const std::string& file);

/// A Chrome trace already parsed by parse_json_input (what from_chrome_json does after parsing): for a
/// reader that parsed the file to learn what it is, so a large trace is not parsed twice.
[[nodiscard]] Trace from_chrome_document(const nlohmann::json& doc, const std::string& label);

}  // namespace ringlab::trace
