#pragma once

// The Dialpad sample payloads, copied from the shared fixtures into
// tests/fixtures/dialpad so a clean clone has them. CMake defines
// CTI_FIXTURES_DIR for every test binary.

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

namespace cti::test {

/// The directory of the Dialpad sample payloads.
inline std::filesystem::path fixtures_dir() {
  return CTI_FIXTURES_DIR;
}

/// The exact bytes of fixture `name`; a missing file fails the test and gives "{}".
inline std::string fixture_text(const std::string& name) {
  std::ifstream in{fixtures_dir() / name, std::ios::binary};
  if (!in) {
    ADD_FAILURE() << "fixture missing: " << (fixtures_dir() / name);
    return "{}";
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

} // namespace cti::test
