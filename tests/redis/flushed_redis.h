// A test suite's own redis-server (started once for the suite), emptied before each test, with a
// blocking client to it: what the script tests share.
#pragma once

#include <gtest/gtest.h>

#include "tests/redis/redis_server.h"
#include "tests/redis/script_runner.h"

namespace pushrelay::redis::testing {

class FlushedRedisTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() { server_ = new RedisServer(); }
    static void TearDownTestSuite() {
        delete server_;
        server_ = nullptr;
    }

    void SetUp() override {
        redis_ = connect_to(server_->port());
        command(redis_.get(), {"FLUSHALL"});
    }

    static int port() { return server_->port(); }

    static inline RedisServer* server_ = nullptr;
    ContextPtr redis_;
};

}  // namespace pushrelay::redis::testing
