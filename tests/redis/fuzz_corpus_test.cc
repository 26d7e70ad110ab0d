// Replays the redis_frame fuzz corpus (tests/fuzz/corpus/redis_frame) through the fuzz
// target's own code (tests/fuzz/redis_frame_driver.h), so every input a fuzzer kept stays
// covered by `make test` and the ASan build.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "tests/fuzz/redis_frame_driver.h"

namespace pushrelay::fuzz {
namespace {

namespace fs = std::filesystem;

TEST(RedisFrameFuzzCorpus, EveryKeptInputKeepsThePromises) {
    size_t files = 0;
    for (const fs::directory_entry& e :
         fs::directory_iterator(fs::path(PUSHRELAY_SOURCE_DIR) / "tests/fuzz/corpus/redis_frame")) {
        std::ifstream in(e.path(), std::ios::binary);
        const std::string bytes{std::istreambuf_iterator<char>(in),
                                std::istreambuf_iterator<char>()};
        EXPECT_EQ(run_redis_frame(bytes), "") << e.path();
        ++files;
    }
    EXPECT_GE(files, 6u);  // the hand-written seeds at least
}

// The seeds decode as what they are named, so the replay sees both outcomes.
TEST(RedisFrameFuzzCorpus, SeedsDecodeAsNamed) {
    const fs::path dir = fs::path(PUSHRELAY_SOURCE_DIR) / "tests/fuzz/corpus/redis_frame";
    auto decode = [&](const char* name) {
        std::ifstream in(dir / name, std::ios::binary);
        return redis::decode_frame(
            std::string{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()});
    };
    EXPECT_TRUE(std::holds_alternative<redis::Frame>(decode("seed_message")));
    EXPECT_TRUE(std::holds_alternative<redis::Frame>(decode("seed_trimmed")));
    EXPECT_TRUE(std::holds_alternative<redis::FrameError>(decode("seed_truncated")));
}

}  // namespace
}  // namespace pushrelay::fuzz
