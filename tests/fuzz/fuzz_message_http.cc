// libFuzzer entry point for protocol/: see tests/fuzz/protocol_drivers.h for what is checked and
// doc/fuzzing.md for how to build and run it.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "tests/fuzz/protocol_drivers.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string broken = pushrelay::fuzz::run_message_http(
        std::string_view(reinterpret_cast<const char*>(data), size));
    if (!broken.empty()) {
        std::fprintf(stderr, "fuzz_message_http: %s\n", broken.c_str());
        std::abort();
    }
    return 0;
}
