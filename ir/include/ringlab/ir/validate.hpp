#pragma once
// The validator: proves a schedule is executable before anything runs it.
#include <string>
#include <vector>

#include "ringlab/ir/schedule.hpp"

namespace ringlab::ir {

/// Checks, in order: structure (op ids dense, deps in range, buffers exist and are big enough, token
/// sets consistent, peers and heads in range), transfers (every Send has exactly one Recv with equal
/// source, destination, tag and bytes, issued in the same order per channel), acyclic dependencies
/// within each rank, and freedom from deadlock under the rendezvous semantics (an abstract execution
/// that reports the first blocked state). Throws ValidationError naming rank, op id and reason.
void validate(const Schedule& s);

/// Same checks; returns every structural problem found instead of throwing at the first (at most
/// `limit`), then the first transfer, cycle or deadlock problem. Empty when valid.
[[nodiscard]] std::vector<std::string> validation_errors(const Schedule& s, std::size_t limit = 20);

}  // namespace ringlab::ir
