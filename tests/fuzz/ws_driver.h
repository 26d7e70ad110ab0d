// tests/fuzz/ws_driver.h — the code the WebSocket fuzz target runs (tests/fuzz/fuzz_websocket.cc),
// shared with the unit test that replays its corpus (tests/ws/fuzz_corpus_test.cc).
//
// One input is one client: an upgrade request, then the bytes it sends once upgraded. The request
// goes through protocol::RequestParser and ws::check_handshake / ws::response_head as the worker
// runs them; the rest goes, cut into packets, into a ws::Session over a socketpair. What the
// session writes back is read by wslay's frame layer on the client side and checked against what
// ws/ promises: well-formed unmasked server frames, control frames within 125 bytes, nothing
// after a close frame, messages handed up only when accepted and text only when UTF-8. Returns an
// empty string when every promise held, else one line naming the broken one. Header-only so that
// the fuzz build (clang) and the unit tests (g++) compile the same code.
#pragma once

#include <ev.h>
#include <sys/socket.h>
#include <unistd.h>
#include <wslay/wslay.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <variant>

#include "protocol/request_parser.h"
#include "ws/frame.h"
#include "ws/handshake.h"
#include "ws/session.h"

namespace pushrelay::fuzz {

namespace ws_detail {

struct Observer : ws::SessionObserver {
    bool accept = true;
    bool closed = false;
    std::string broken;
    void message_received(ws::Session&, ws::Opcode opcode, std::string_view payload) override {
        if (!accept)
            broken = "a subscriber's session handed up a message";
        if (opcode == ws::Opcode::Text && !ws::valid_utf8(payload))
            broken = "a text message that is not UTF-8 was handed up";
    }
    void session_closed(ws::Session&) override { closed = true; }
};

// Reads server frames with wslay's frame layer (client side: frames must come unmasked).
struct FrameReader {
    std::string bytes;
    size_t pos = 0;
    static ssize_t recv(uint8_t* buf, size_t len, int, void* user) {
        auto* self = static_cast<FrameReader*>(user);
        size_t n = std::min(len, self->bytes.size() - self->pos);
        if (n == 0)
            return -1;  // no more: wslay answers WANT_READ
        std::memcpy(buf, self->bytes.data() + self->pos, n);
        self->pos += n;
        return static_cast<ssize_t>(n);
    }
    std::string check() {
        wslay_frame_callbacks callbacks{};
        callbacks.recv_callback = recv;
        wslay_frame_context_ptr ctx;
        if (wslay_frame_context_init(&ctx, &callbacks, this) != 0)
            return "out of memory";
        std::string broken;
        bool after_close = false;
        uint64_t remaining = 0;  // of the frame being read: its pieces follow
        for (;;) {
            wslay_frame_iocb iocb{};
            ssize_t r = wslay_frame_recv(ctx, &iocb);
            if (r == WSLAY_ERR_WANT_READ)
                break;
            if (r < 0) {
                broken = "the server wrote a malformed frame";
                break;
            }
            if (remaining == 0) {
                if (after_close) {
                    broken = "a frame after the close frame";
                    break;
                }
                if (iocb.mask || !iocb.fin || iocb.rsv) {
                    broken = "a server frame masked, fragmented or with RSV bits";
                    break;
                }
                if (iocb.opcode >= 0x8 && iocb.payload_length > 125) {
                    broken = "a control frame over 125 bytes";
                    break;
                }
                if (iocb.opcode == 0x8)
                    after_close = true;
                remaining = iocb.payload_length;
            }
            remaining -= iocb.data_length;
        }
        wslay_frame_context_free(ctx);
        return broken;
    }
};

}  // namespace ws_detail

// Input layout: byte 0: bit 0 set = a subscriber (messages refused), bits 1-6 = packet size - 1
// for the bytes after the handshake; then the request, up to and including its blank line; then
// the client's bytes.
inline std::string run_websocket(std::string_view input) {
    if (input.empty())
        return {};
    const uint8_t control = static_cast<uint8_t>(input[0]);
    const bool subscriber = control & 1;
    const size_t packet = ((control >> 1) & 0x3f) + 1;
    input.remove_prefix(1);

    protocol::RequestParser parser(protocol::RequestParser::Limits{4096, 32});
    size_t used = 0;
    bool complete = false;
    while (used < input.size()) {
        auto step = parser.feed(input.data() + used, input.size() - used);
        used += step.consumed;
        if (step.event == protocol::RequestParser::Event::MessageComplete) {
            complete = true;
            break;
        }
        if (step.event == protocol::RequestParser::Event::Error ||
            (step.event == protocol::RequestParser::Event::NeedMore && step.consumed == 0))
            return {};
        if (step.event == protocol::RequestParser::Event::HeadersComplete)
            parser.set_body_limit(0);
    }
    if (!complete || !ws::is_upgrade_request(parser.request()))
        return {};
    auto handshake = ws::check_handshake(parser.request());
    if (auto* refused = std::get_if<ws::Refused>(&handshake)) {
        if (refused->status != 400 || refused->body.empty())
            return "a refusal that is not a 400 with a text";
        return {};
    }
    const ws::Accepted& accepted = std::get<ws::Accepted>(handshake);
    std::string head = ws::response_head(accepted);
    if (accepted.accept.size() != 28 || !head.ends_with("\r\n\r\n") ||
        head.find("\r\n\r\n") != head.size() - 4)
        return "a malformed 101 head";
    std::string_view rest = input.substr(used);

    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds) != 0)
        return {};
    struct ev_loop* loop = ev_loop_new(EVFLAG_AUTO);
    ws_detail::Observer observer;
    observer.accept = !subscriber;
    ws_detail::FrameReader reader;
    {
        ws::SessionOptions options;
        options.accept_messages = !subscriber;
        options.max_message_length = 4096;
        options.max_unsent_bytes = 1 << 20;
        ws::Session session(loop, core::UniqueFd(fds[0]), std::string(), options, observer, "fuzz");
        session.start();
        auto drain = [&] {
            char buf[4096];
            for (;;) {
                ssize_t n = ::recv(fds[1], buf, sizeof buf, 0);
                if (n <= 0)
                    break;
                reader.bytes.append(buf, static_cast<size_t>(n));
            }
        };
        for (size_t off = 0; off < rest.size() && !observer.closed; off += packet) {
            std::string_view piece = rest.substr(off, packet);
            if (::send(fds[1], piece.data(), piece.size(), MSG_NOSIGNAL) < 0)
                break;
            ev_run(loop, EVRUN_NOWAIT);
            drain();
        }
        for (int i = 0; i < 4; ++i) ev_run(loop, EVRUN_NOWAIT);
        drain();
    }
    ::close(fds[1]);
    ev_loop_destroy(loop);
    if (!observer.broken.empty())
        return observer.broken;
    return reader.check();
}

}  // namespace pushrelay::fuzz
