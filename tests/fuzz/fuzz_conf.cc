// libFuzzer entry point for conf/: see tests/fuzz/conf_driver.h for what is checked and
// doc/fuzzing.md for how to build and run it.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "tests/fuzz/conf_driver.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string broken =
        pushrelay::fuzz::run_conf(std::string_view(reinterpret_cast<const char*>(data), size));
    if (!broken.empty()) {
        std::fprintf(stderr, "fuzz_conf: %s\n", broken.c_str());
        std::abort();
    }
    return 0;
}
