// Replays every saved fuzz input (fuzz/regressions/<target>/*, the seeds in
// fuzz/corpus/<target>/* and the Dialpad fixtures) through its fuzz target
// under the normal build: a target aborts when an invariant breaks, so a bug
// the fuzzer once found cannot come back unnoticed where clang is missing.

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "fuzz/targets.hpp"

namespace fs = std::filesystem;

namespace {

std::string read_all(const fs::path& p) {
  std::ifstream in{p, std::ios::binary};
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

/// Runs every regular file under `dir` through `target`; how many it ran.
int replay(const fs::path& dir, cti::fuzz::target_fn target) {
  int n = 0;
  if (!fs::is_directory(dir))
    return 0;
  for (const auto& entry : fs::directory_iterator{dir}) {
    if (!entry.is_regular_file() || entry.path().filename() == "README.md")
      continue;
    SCOPED_TRACE(entry.path().string());
    target(read_all(entry.path()));
    ++n;
  }
  return n;
}

} // namespace

TEST(fuzz_regressions, every_saved_input_passes_its_target) {
  const fs::path root{CTI_SOURCE_DIR};
  int total = 0;
  for (const char* name : {"extract", "sanitize", "webhook_auth", "router", "cursor"}) {
    auto target = cti::fuzz::target_named(name);
    ASSERT_NE(target, nullptr) << name;
    total += replay(root / "fuzz" / "regressions" / name, target);
    total += replay(root / "fuzz" / "corpus" / name, target);
  }
  for (const char* name : {"extract", "sanitize"})
    total += replay(root / "tests" / "fixtures" / "dialpad", cti::fuzz::target_named(name));
  EXPECT_GT(total, 30); // the seeds and fixtures at least
}

TEST(fuzz_regressions, targets_are_named) {
  EXPECT_EQ(cti::fuzz::target_named("nope"), nullptr);
  EXPECT_NE(cti::fuzz::target_named("router"), nullptr);
}
