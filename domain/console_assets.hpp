#pragma once

// The operator console's files (console/*), compiled into the binary by
// cmake/embed_console.cmake: the server needs no web root and no CDN.

#include <string_view>

namespace cti {

struct console_asset {
  std::string_view name;         ///< `index.html`, `console.js`, ...
  std::string_view content_type;
  std::string_view body;
};

/// The file named `name`, or null.
const console_asset* find_console_asset(std::string_view name);

} // namespace cti
