// Replays the WebSocket fuzz corpus (tests/fuzz/corpus/websocket/) through the fuzz target's own
// code (tests/fuzz/ws_driver.h), so every case a fuzzer kept stays covered by `make test` and the
// ASan build.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "tests/fuzz/ws_driver.h"

namespace pushrelay::fuzz {
namespace {

namespace fs = std::filesystem;

TEST(FuzzCorpus, WebSocket) {
    size_t files = 0;
    for (const fs::directory_entry& e :
         fs::directory_iterator(fs::path(PUSHRELAY_SOURCE_DIR) / "tests/fuzz/corpus/websocket")) {
        if (!e.is_regular_file())
            continue;
        std::ifstream in(e.path(), std::ios::binary);
        std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
        EXPECT_EQ(run_websocket(bytes), "") << e.path();
        ++files;
    }
    EXPECT_GT(files, 0u);
}

}  // namespace
}  // namespace pushrelay::fuzz
