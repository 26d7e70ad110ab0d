#include "ws/frame.h"

#include <wslay/wslay.h>

#include <cstdlib>

namespace pushrelay::ws {
namespace {

// wslay's frame layer writes the header, then the payload, through this callback; it takes
// everything, so one wslay_frame_send() completes the frame.
ssize_t append(const uint8_t* data, size_t len, int, void* user_data) {
    static_cast<std::string*>(user_data)->append(reinterpret_cast<const char*>(data), len);
    return static_cast<ssize_t>(len);
}

}  // namespace

std::string encode_frame(Opcode opcode, std::string_view payload) {
    std::string out;
    out.reserve(payload.size() + 14);
    wslay_frame_callbacks callbacks{append, nullptr, nullptr};
    wslay_frame_context_ptr ctx = nullptr;
    if (wslay_frame_context_init(&ctx, &callbacks, &out) != 0)
        std::abort();  // out of memory: the one policy of this process (as operator new)
    wslay_frame_iocb iocb{};
    iocb.fin = 1;
    iocb.opcode = static_cast<uint8_t>(opcode);
    iocb.payload_length = payload.size();
    iocb.data = reinterpret_cast<const uint8_t*>(payload.data());
    iocb.data_length = payload.size();
    ssize_t r = wslay_frame_send(ctx, &iocb);
    wslay_frame_context_free(ctx);
    if (r < 0)
        std::abort();  // a broken precondition (an oversized control frame)
    return out;
}

core::SharedBytes shared_frame(Opcode opcode, std::string_view payload) {
    return std::make_shared<const std::string>(encode_frame(opcode, payload));
}

std::string encode_close(std::uint16_t code, std::string_view reason) {
    if (code == 0)
        return encode_frame(Opcode::Close, {});
    std::string payload;
    payload += static_cast<char>(code >> 8);
    payload += static_cast<char>(code & 0xff);
    payload.append(reason);
    return encode_frame(Opcode::Close, payload);
}

bool valid_utf8(std::string_view bytes) {
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
    const auto* end = p + bytes.size();
    while (p < end) {
        unsigned char c = *p;
        if (c < 0x80) {
            ++p;
            continue;
        }
        int more;
        unsigned lo = 0x80, hi = 0xbf;  // the range of the second byte
        if (c >= 0xc2 && c <= 0xdf) {
            more = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
            more = 2;
            if (c == 0xe0)
                lo = 0xa0;  // no overlongs
            else if (c == 0xed)
                hi = 0x9f;  // no surrogates
        } else if (c >= 0xf0 && c <= 0xf4) {
            more = 3;
            if (c == 0xf0)
                lo = 0x90;  // no overlongs
            else if (c == 0xf4)
                hi = 0x8f;  // <= U+10FFFF
        } else {
            return false;
        }
        if (end - p <= more)
            return false;
        if (p[1] < lo || p[1] > hi)
            return false;
        for (int i = 2; i <= more; ++i)
            if ((p[i] & 0xc0) != 0x80)
                return false;
        p += more + 1;
    }
    return true;
}

}  // namespace pushrelay::ws
