#pragma once

// Operator subcommands of the binary (run instead of the server):
//   cti-server migrate                 apply the migrations and exit
//   cti-server events stats            pending / failed / dead per app and type
//   cti-server events process --once   drain the queue once (recovery)
//   cti-server events replay <id>      re-queue one event
// They talk to PostgreSQL directly on the calling thread: no actor system,
// no HTTP listener.

#include <string>
#include <vector>

#include "domain/config.hpp"

namespace cti::cli {

/// True when `words` (the positional arguments) name a subcommand.
bool is_command(const std::vector<std::string>& words);

/// The configuration errors a subcommand cares about (the database ones);
/// the server's secrets are not needed to run one.
std::vector<config_error> relevant_errors(const std::vector<std::string>& words,
                                          const std::vector<config_error>& errors);

/// Runs the subcommand; answers the process exit code (0 ok, 1 failure,
/// 2 usage).
int run(const std::vector<std::string>& words, const config& cfg);

/// The subcommands' part of --help.
extern const char* const usage;

} // namespace cti::cli
