// libFuzzer entry point for redis/frames.h: see tests/fuzz/redis_frame_driver.h for what is
// checked and doc/fuzzing.md for how to build and run it.
#include "tests/fuzz/redis_frame_driver.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    return pushrelay::fuzz::redis_frame_fuzz_one(data, size);
}
