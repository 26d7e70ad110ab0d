// redis/frames.h against doc/redis-format.md §2 and §3: frames built here byte by byte. The
// frames the scripts really PUBLISH are decoded in scripts_test.cc.
#include "redis/frames.h"

#include <gtest/gtest.h>

#include <string>

namespace pushrelay::redis {
namespace {

// Little-endian packing, as Lua's struct.pack('<...') does.
class Bytes {
  public:
    explicit Bytes(char kind) : out_(1, kind) {}
    Bytes& le(std::uint64_t value, int size) {
        for (int i = 0; i < size; ++i) out_ += static_cast<char>((value >> (8 * i)) & 0xff);
        return *this;
    }
    Bytes& u64(std::uint64_t v) { return le(v, 8); }
    Bytes& i64(std::int64_t v) { return le(static_cast<std::uint64_t>(v), 8); }
    Bytes& u32(std::uint32_t v) { return le(v, 4); }
    Bytes& u8(std::uint8_t v) { return le(v, 1); }
    Bytes& id(std::int64_t time, std::uint32_t tag) { return i64(time).u32(tag); }
    Bytes& text(const std::string& s) {
        u32(static_cast<std::uint32_t>(s.size()));
        out_ += s;
        return *this;
    }
    // §3, with min_buffer and max_buffer given.
    Bytes& limits(std::uint32_t min_buffer, std::uint32_t max_buffer) {
        return u32(min_buffer).u32(max_buffer).i64(3600000).u32(2).u8(1).i64(5000).u8(1);
    }
    const std::string& str() const { return out_; }

  private:
    std::string out_;
};

const std::string kBody("a\0b\xff", 4);

Bytes message_frame() {
    return Bytes('M')
        .u64(0x60a2418202240)
        .id(1700000000, 3)
        .id(1700000000, 2)
        .id(1699999999, 0)
        .i64(1700003600123)
        .u8(1)
        .limits(1, 10)
        .text("text/plain")
        .text(kBody)
        .text("update");
}

template <typename T>
T decoded(const std::string& bytes) {
    std::variant<Frame, FrameError> result = decode_frame(bytes);
    if (const FrameError* error = std::get_if<FrameError>(&result))
        ADD_FAILURE() << *error;
    const Frame* frame = std::get_if<Frame>(&result);
    if (frame == nullptr || !std::holds_alternative<T>(*frame)) {
        ADD_FAILURE() << "not the expected kind";
        return T{};
    }
    return std::get<T>(*frame);
}

std::string error_of(const std::string& bytes) {
    std::variant<Frame, FrameError> result = decode_frame(bytes);
    const FrameError* error = std::get_if<FrameError>(&result);
    return error ? *error : "(decoded)";
}

// §2 "M".
TEST(Frames, MessageCarriesEveryField) {
    const MessageFrame m = decoded<MessageFrame>(message_frame().str());
    EXPECT_EQ(m.gen, 0x60a2418202240u);
    EXPECT_EQ(m.id, (core::MessageId{1700000000, 3}));
    EXPECT_EQ(m.prev, (core::MessageId{1700000000, 2}));
    EXPECT_EQ(m.oldest, (core::MessageId{1699999999, 0}));
    EXPECT_EQ(m.expires_at_ms, 1700003600123);
    EXPECT_TRUE(m.stored);
    EXPECT_EQ(m.limits.min_buffer, 1u);
    EXPECT_EQ(m.limits.max_buffer, 10u);
    EXPECT_EQ(m.limits.message_timeout_ms, 3600000);
    EXPECT_EQ(m.limits.min_recipients, 2u);
    EXPECT_TRUE(m.limits.delete_oldest_received);
    EXPECT_EQ(m.limits.channel_timeout_ms, 5000);
    EXPECT_TRUE(m.limits.store_messages);
    EXPECT_EQ(m.content_type, "text/plain");
    EXPECT_EQ(m.body, kBody);
    EXPECT_EQ(m.event, "update");
}

// §2: an id of time -1, tag 0 is "none".
TEST(Frames, MessageWithoutPrevOrStoredMessage) {
    const std::string bytes = Bytes('M')
                                  .u64(1)
                                  .id(1700000000, 0)
                                  .id(-1, 0)
                                  .id(-1, 0)
                                  .i64(0)
                                  .u8(0)
                                  .limits(1, 1)
                                  .text("")
                                  .text("")
                                  .text("")
                                  .str();
    const MessageFrame m = decoded<MessageFrame>(bytes);
    EXPECT_FALSE(m.prev);
    EXPECT_FALSE(m.oldest);
    EXPECT_FALSE(m.stored);
    EXPECT_EQ(m.expires_at_ms, 0);
    EXPECT_EQ(m.body, "");
}

TEST(Frames, DeletedKickTrimmed) {
    EXPECT_EQ(decoded<DeletedFrame>(Bytes('D').u64(42).str()).gen, 42u);
    const KickFrame k = decoded<KickFrame>(Bytes('K').u64(42).u64(7).str());
    EXPECT_EQ(k.gen, 42u);
    EXPECT_EQ(k.seq, 7u);
    const TrimmedFrame t = decoded<TrimmedFrame>(Bytes('T').u64(42).id(1700000000, 9).str());
    EXPECT_EQ(t.gen, 42u);
    EXPECT_EQ(t.oldest, (core::MessageId{1700000000, 9}));
    EXPECT_FALSE(decoded<TrimmedFrame>(Bytes('T').u64(42).id(-1, 0).str()).oldest);
}

TEST(Frames, EveryTruncationIsAnError) {
    for (const std::string& whole :
         {message_frame().str(), Bytes('D').u64(1).str(), Bytes('K').u64(1).u64(2).str(),
          Bytes('T').u64(1).id(5, 0).str()}) {
        for (std::size_t size = 0; size < whole.size(); ++size) {
            const std::string error = error_of(whole.substr(0, size));
            EXPECT_NE(error, "(decoded)") << whole[0] << " cut at " << size;
        }
    }
    EXPECT_EQ(error_of(""), "frame: empty");
    EXPECT_EQ(error_of("D"), "frame D: gen is truncated");
}

TEST(Frames, MalformedFramesSayWhy) {
    EXPECT_EQ(error_of("X123"), "frame: unknown kind byte 88");
    EXPECT_EQ(error_of(Bytes('D').u64(1).u8(0).str()), "frame D: 1 trailing bytes");
    EXPECT_EQ(error_of(Bytes('T').u64(1).id(-5, 0).str()),
              "frame T: oldest id has a negative time");
    // A body length beyond the frame: no read past its end.
    std::string huge = message_frame().str();
    huge.resize(huge.size() - kBody.size() - 4 - std::string("update").size() - 4);
    huge += Bytes('x').u32(0xffffffff).str().substr(1);
    EXPECT_EQ(error_of(huge), "frame M: body is truncated");
}

TEST(Frames, MessageRulesAreChecked) {
    auto with = [](auto edit) {
        Bytes b('M');
        edit(b);
        return error_of(b.text("").text("").text("").str());
    };
    EXPECT_EQ(
        with([](Bytes& b) { b.u64(1).id(-1, 0).id(-1, 0).id(-1, 0).i64(0).u8(0).limits(1, 1); }),
        "frame M: id is none");
    EXPECT_EQ(
        with([](Bytes& b) { b.u64(1).id(10, 0).id(10, 0).id(-1, 0).i64(0).u8(0).limits(1, 1); }),
        "frame M: prev id is not before the id");
    EXPECT_EQ(
        with([](Bytes& b) { b.u64(1).id(10, 0).id(-1, 0).id(-1, 0).i64(0).u8(2).limits(1, 1); }),
        "frame M: flags has unknown bits");
    EXPECT_EQ(
        with([](Bytes& b) { b.u64(1).id(10, 0).id(-1, 0).id(-1, 0).i64(0).u8(0).limits(5, 1); }),
        "frame M: limits have min_buffer above max_buffer");
    EXPECT_EQ(
        with([](Bytes& b) { b.u64(1).id(10, 0).id(-1, 0).id(-1, 0).i64(-3).u8(0).limits(1, 1); }),
        "frame M: expires_at is negative");
}

TEST(Frames, VersionKey) {
    EXPECT_EQ(version_key("pr"), "pr:v");
    EXPECT_EQ(kFormatVersion, "2");
}

}  // namespace
}  // namespace pushrelay::redis
