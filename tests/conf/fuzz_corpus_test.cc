// Replays the conf fuzz corpus (tests/fuzz/corpus/conf) through the fuzz target's own code
// (tests/fuzz/conf_driver.h), so every conf a fuzzer kept, including those that once crashed
// the loader, stays covered by `make test` and the ASan build.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "tests/fuzz/conf_driver.h"

namespace pushrelay::fuzz {
namespace {

namespace fs = std::filesystem;

std::string read_bytes(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(FuzzCorpus, Conf) {
    size_t files = 0;
    size_t loaded = 0;
    for (const fs::directory_entry& e :
         fs::directory_iterator(fs::path(PUSHRELAY_SOURCE_DIR) / "tests/fuzz/corpus/conf")) {
        std::string text = read_bytes(e.path());
        EXPECT_EQ(run_conf(text), "") << e.path();
        files++;
        loaded += conf::load_string(text, "/nonexistent-fuzz/fuzz.conf", "/").config != nullptr;
    }
    EXPECT_GT(files, 0u);
    // Both outcomes are exercised: confs that load (so the invariants were checked) and not.
    EXPECT_GT(loaded, 0u);
    EXPECT_LT(loaded, files);
}

// Absolute includes are not loaded by the fuzz driver (they could read any file).
TEST(FuzzCorpus, ConfDriverSkipsAbsoluteIncludes) {
    EXPECT_TRUE(conf_may_read_files("include /dev/zero;"));
    EXPECT_FALSE(conf_may_read_files("events {}"));
}

}  // namespace
}  // namespace pushrelay::fuzz
