// `treve serve`: the daemon in the foreground. Opens the store, listens, answers connectors,
// and on SIGTERM/SIGINT stops accepting, finishes what is in progress (bounded), commits and
// closes the store, and returns 0.
#pragma once

#include <string>

namespace treve::app {

int serve(const std::string& config_path);

}  // namespace treve::app
