// The French text of a configuration, policy or .ics diagnostic, rendered from its code and
// arguments (never from its English text), for the admin page. docs/configuration.md lists the
// codes; the English is config::render_en.
#pragma once

#include <string>

#include "daemon/config/diagnostic.h"

namespace treve::admin {

// The message alone: "heure attendue au format HH:MM (de 00:00 à 23:59), reçu « 7h »".
std::string message_fr(const config::Diagnostic& d);

// With the place, as render_en gives it: "FILE:LINE: key: message".
std::string render_fr(const config::Diagnostic& d);

}  // namespace treve::admin
