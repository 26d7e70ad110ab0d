// libFuzzer target: a WebSocket client's handshake and frames (tests/fuzz/ws_driver.h).
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "tests/fuzz/ws_driver.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string broken =
        pushrelay::fuzz::run_websocket({reinterpret_cast<const char*>(data), size});
    if (!broken.empty()) {
        std::fprintf(stderr, "broken promise: %s\n", broken.c_str());
        std::abort();
    }
    return 0;
}
