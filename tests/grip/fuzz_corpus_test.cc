// Replays the grip/ fuzz corpora (tests/fuzz/corpus/grip_instruction and grip_publish) through
// the fuzz targets' own code (tests/fuzz/grip_drivers.h), so every input a fuzzer kept stays
// covered by `make test` and the ASan build.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "tests/fuzz/grip_drivers.h"

namespace pushrelay::fuzz {
namespace {

namespace fs = std::filesystem;

// Runs every file of a corpus through `driver`; returns how many files there were.
size_t replay_corpus(const char* target, std::string (*driver)(std::string_view)) {
    size_t files = 0;
    for (const fs::directory_entry& e :
         fs::directory_iterator(fs::path(PUSHRELAY_SOURCE_DIR) / "tests/fuzz/corpus" / target)) {
        std::ifstream in(e.path(), std::ios::binary);
        const std::string bytes{std::istreambuf_iterator<char>(in),
                                std::istreambuf_iterator<char>()};
        EXPECT_EQ(driver(bytes), "") << e.path();
        ++files;
    }
    return files;
}

TEST(GripFuzzCorpus, Instruction) {
    EXPECT_GT(replay_corpus("grip_instruction", run_grip_instruction), 0u);
}

TEST(GripFuzzCorpus, Publish) {
    EXPECT_GT(replay_corpus("grip_publish", run_grip_publish), 0u);
}

// The drivers see both outcomes: the seeds hold valid and invalid instructions and bodies, and
// a packed item the unpack check reaches.
TEST(GripFuzzCorpus, SeedsReachBothOutcomes) {
    EXPECT_TRUE(std::holds_alternative<grip::Instruction>(grip::parse_instruction_headers(
        {{"Grip-Hold", "response"}, {"Grip-Channel", "a"}}, kGripLimits)));
    const fs::path dir = fs::path(PUSHRELAY_SOURCE_DIR) / "tests/fuzz/corpus/grip_publish";
    std::ifstream in(dir / "seed-packed", std::ios::binary);
    const std::string packed{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    std::optional<grip::Item> item = grip::unpack_item(packed);
    ASSERT_TRUE(item);
    EXPECT_EQ(item->channel, "a");
    EXPECT_EQ(item->http_response->body, "hi");
    EXPECT_EQ(item->http_stream->content, "s");
}

}  // namespace
}  // namespace pushrelay::fuzz
