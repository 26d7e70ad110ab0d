// push/websocket.h: the frame of a message (transports.md "WebSocket": payload, ws+meta.nchan,
// opcode) and the close of each stream end ("Stream end").
#include "push/websocket.h"

#include <gtest/gtest.h>

namespace pushrelay::push {
namespace {

Payload payload_of(std::string body, std::string content_type = "") {
    Payload p;
    p.id = core::MessageId{1795688987, 0};
    p.content_type = std::move(content_type);
    p.body = std::make_shared<const std::string>(std::move(body));
    return p;
}

TEST(WebSocketFrame, MetaPayload) {
    EXPECT_EQ(websocket_payload(payload_of("hi", "text/plain"), true),
              "id: 1795688987:0\ncontent-type: text/plain\n\nhi");
    EXPECT_EQ(websocket_payload(payload_of("m"), true), "id: 1795688987:0\n\nm");
    EXPECT_EQ(websocket_payload(payload_of("m", "text/plain"), false), "m");
}

TEST(WebSocketFrame, Opcode) {
    EXPECT_EQ(*websocket_frame(payload_of("hi"), false), "\x81\x02hi");
    EXPECT_EQ(*websocket_frame(payload_of("hi", "application/octet-stream"), false), "\x82\x02hi");
    // Only that exact type: a parameter makes it another.
    EXPECT_EQ((*websocket_frame(payload_of("hi", "application/octet-stream; x=1"), false))[0],
              '\x81');
    // decision: a body that is not UTF-8 goes as binary, also with ws+meta.nchan.
    EXPECT_EQ((*websocket_frame(payload_of("\xff", "text/plain"), true))[0], '\x82');
}

TEST(WebSocketClose, StreamEnds) {
    auto close = [](Ending why) {
        CloseFrame f = close_frame_for(why);
        return std::make_pair(f.code, std::string(f.reason));
    };
    EXPECT_EQ(close(Ending::Deleted), std::make_pair(std::uint16_t{1001}, std::string("410 Gone")));
    EXPECT_EQ(close(Ending::TimedOut),
              std::make_pair(std::uint16_t{1000}, std::string("408 Request Timeout")));
    EXPECT_EQ(close(Ending::Stopping),
              std::make_pair(std::uint16_t{1001}, std::string("Going Away")));
    EXPECT_EQ(close(Ending::Restarting),
              std::make_pair(std::uint16_t{1012}, std::string("Service Restart")));
    EXPECT_EQ(close(Ending::ClientGone).first, 0);
    EXPECT_EQ(close(Ending::Delivered).first, 0);
}

}  // namespace
}  // namespace pushrelay::push
