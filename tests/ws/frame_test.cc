// ws/frame.h: server frames per RFC 6455 §5.2 (transports.md "Server frames": FIN, RSV 0,
// unmasked, lengths 7 / 7+16 / 7+64 bits) and the UTF-8 rule.
#include "ws/frame.h"

#include <gtest/gtest.h>

namespace pushrelay::ws {
namespace {

std::string header_of(Opcode op, std::size_t length) {
    std::string frame = encode_frame(op, std::string(length, 'x'));
    EXPECT_EQ(frame.substr(frame.size() - length), std::string(length, 'x'));
    return frame.substr(0, frame.size() - length);
}

TEST(Frame, LengthBoundaries) {
    EXPECT_EQ(header_of(Opcode::Text, 0), std::string("\x81\x00", 2));
    EXPECT_EQ(header_of(Opcode::Text, 125), "\x81\x7d");
    EXPECT_EQ(header_of(Opcode::Binary, 126), std::string("\x82\x7e\x00\x7e", 4));
    EXPECT_EQ(header_of(Opcode::Text, 65535), "\x81\x7e\xff\xff");
    EXPECT_EQ(header_of(Opcode::Text, 65536),
              std::string("\x81\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10));
}

TEST(Frame, ControlFrames) {
    EXPECT_EQ(encode_frame(Opcode::Ping, ""), std::string("\x89\x00", 2));
    EXPECT_EQ(encode_frame(Opcode::Pong, "ab"),
              "\x8a\x02"
              "ab");
    EXPECT_EQ(encode_close(1000, ""), "\x88\x02\x03\xe8");
    EXPECT_EQ(encode_close(1001, "410 Gone"),
              "\x88\x0a\x03\xe9"
              "410 Gone");
    EXPECT_EQ(encode_close(0, ""), std::string("\x88\x00", 2));
    EXPECT_EQ(*shared_frame(Opcode::Text, "hi"), "\x81\x02hi");
}

TEST(Frame, Utf8) {
    EXPECT_TRUE(valid_utf8(""));
    EXPECT_TRUE(valid_utf8("plain ascii"));
    EXPECT_TRUE(valid_utf8("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80"));
    EXPECT_FALSE(valid_utf8("\xff"));
    EXPECT_FALSE(valid_utf8("\xc3"));              // truncated
    EXPECT_FALSE(valid_utf8("\xc0\xaf"));          // overlong
    EXPECT_FALSE(valid_utf8("\xe0\x80\xaf"));      // overlong
    EXPECT_FALSE(valid_utf8("\xed\xa0\x80"));      // surrogate
    EXPECT_FALSE(valid_utf8("\xf4\x90\x80\x80"));  // > U+10FFFF
    EXPECT_FALSE(valid_utf8("a\x80"));             // lone continuation
}

}  // namespace
}  // namespace pushrelay::ws
