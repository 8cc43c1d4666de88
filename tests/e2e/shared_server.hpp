#pragma once

#include <csignal>
#include <map>
#include <string>

#include <gtest/gtest.h>

#include "tests/e2e/server_process.hpp"

namespace cti::test {

/// A test suite whose tests share one server: started before the first test
/// with the environment `Suite::server_env()` gives (on top of
/// server_process's defaults), stopped with SIGTERM after the last (and it
/// must exit 0).
template <class Suite>
class shared_server_test : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    server = new server_process{Suite::server_env()};
    started = server->start();
  }
  // Checked per test: a fatal failure in SetUpTestSuite would only mark the
  // tests skipped, which ctest does not count as a failure.
  void SetUp() override { ASSERT_TRUE(started) << server->output(); }
  static void TearDownTestSuite() {
    EXPECT_EQ(server->stop(SIGTERM), 0) << server->output();
    delete server;
    server = nullptr;
  }
  static uint16_t port() { return server->port(); }
  static inline server_process* server = nullptr;
  static inline bool started = false;
};

} // namespace cti::test
