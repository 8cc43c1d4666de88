#pragma once

// What an exception says, for actors' exception handlers (which get it as
// an exception_ptr) to log.

#include <exception>
#include <string>

namespace cti {

/// `what()` of the exception in `eptr`; "unknown exception" when it is not
/// a std::exception (or `eptr` is empty).
inline std::string exception_text(const std::exception_ptr& eptr) {
  try {
    if (eptr)
      std::rethrow_exception(eptr);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
  }
  return "unknown exception";
}

} // namespace cti
