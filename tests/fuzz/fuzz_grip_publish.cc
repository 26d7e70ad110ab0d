// libFuzzer entry point for grip/: see tests/fuzz/grip_drivers.h for what is checked and
// doc/fuzzing.md for how to build and run it.
#include "tests/fuzz/grip_drivers.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    return pushrelay::fuzz::grip_fuzz_one("fuzz_grip_publish", pushrelay::fuzz::run_grip_publish,
                                          data, size);
}
