// tests/fuzz/redis_frame_driver.h — the code the redis_frame fuzz target runs, shared with the
// unit test that replays its corpus (tests/redis/fuzz_corpus_test.cc).
//
// The input is one pubsub payload, as Redis would deliver it to the relay; the driver decodes
// it with redis::decode_frame and checks what redis/frames.h promises. It returns "" when
// everything held, else one line naming the broken promise. Header-only so the clang fuzz
// build and the g++ unit tests compile the same code.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>

#include "redis/frames.h"

namespace pushrelay::fuzz {

inline std::string check_message_frame(const redis::MessageFrame& m, std::size_t input_size) {
    if (m.content_type.size() + m.body.size() > input_size)
        return "M: strings longer than the frame";
    if (m.prev && *m.prev >= m.id)
        return "M: prev id not before the id";
    if (m.limits.min_buffer > m.limits.max_buffer)
        return "M: min_buffer above max_buffer";
    if (m.expires_at_ms < 0 || m.id.time < 0)
        return "M: a negative time";
    return {};
}

inline std::string run_redis_frame(std::string_view input) {
    const std::variant<redis::Frame, redis::FrameError> result = redis::decode_frame(input);
    if (const redis::FrameError* error = std::get_if<redis::FrameError>(&result)) {
        if (error->rfind("frame", 0) != 0 || error->find('\n') != std::string::npos)
            return "an error that is not one line starting with \"frame\": " + *error;
        return {};
    }
    const redis::Frame& frame = std::get<redis::Frame>(result);
    static constexpr char kKinds[] = {'M', 'D', 'K', 'T'};
    if (input.empty() || input[0] != kKinds[frame.index()])
        return "decoded as another kind than its first byte";
    if (const redis::MessageFrame* m = std::get_if<redis::MessageFrame>(&frame))
        return check_message_frame(*m, input.size());
    if (const redis::TrimmedFrame* t = std::get_if<redis::TrimmedFrame>(&frame);
        t != nullptr && t->oldest && t->oldest->time < 0)
        return "T: a negative oldest time";
    return {};
}

inline int redis_frame_fuzz_one(const uint8_t* data, size_t size) {
    const std::string broken =
        run_redis_frame(std::string_view(reinterpret_cast<const char*>(data), size));
    if (!broken.empty()) {
        std::fprintf(stderr, "fuzz_redis_frame: %s\n", broken.c_str());
        std::abort();
    }
    return 0;
}

}  // namespace pushrelay::fuzz
