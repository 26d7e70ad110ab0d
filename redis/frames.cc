#include "redis/frames.h"

namespace pushrelay::redis {

std::string version_key(std::string_view ns) {
    return std::string(ns) + ":v";
}

namespace {

// Reads little-endian fields off the front of a frame. The first failure sticks: later reads
// return zeros, and error() names the field that did not fit.
class Reader {
  public:
    Reader(std::string_view bytes, char kind) : rest_(bytes), kind_(kind) {}

    std::uint64_t u64(const char* field) { return unsigned_le(8, field); }
    std::uint32_t u32(const char* field) {
        return static_cast<std::uint32_t>(unsigned_le(4, field));
    }
    std::uint8_t u8(const char* field) { return static_cast<std::uint8_t>(unsigned_le(1, field)); }
    std::int64_t i64(const char* field) { return static_cast<std::int64_t>(u64(field)); }

    // A u32 length, then that many bytes.
    std::string bytes(const char* field) {
        const std::uint32_t size = u32(field);
        if (failed())
            return {};
        if (rest_.size() < size) {
            fail(field, "is truncated");
            return {};
        }
        std::string out(rest_.substr(0, size));
        rest_.remove_prefix(size);
        return out;
    }

    // An id: time i64 (-1 for none), tag u32 (0 for none).
    std::optional<core::MessageId> optional_id(const char* field) {
        const std::int64_t time = i64(field);
        const std::uint32_t tag = u32(field);
        if (time == -1 && tag == 0)
            return std::nullopt;
        if (time < 0)
            fail(field, "has a negative time");
        return core::MessageId{time, tag};
    }

    core::MessageId id(const char* field) {
        const std::optional<core::MessageId> id = optional_id(field);
        if (!id && !failed())
            fail(field, "is none");
        return id.value_or(core::MessageId{});
    }

    void fail(const char* field, const char* what) {
        if (!failed())
            error_ = std::string("frame ") + kind_ + ": " + field + " " + what;
    }

    bool failed() const { return !error_.empty(); }

    // The error, or one for bytes left over after the last field.
    const FrameError& finish() {
        if (!failed() && !rest_.empty())
            error_ = std::string("frame ") + kind_ + ": " + std::to_string(rest_.size()) +
                     " trailing bytes";
        return error_;
    }

  private:
    std::uint64_t unsigned_le(std::size_t size, const char* field) {
        if (failed())
            return 0;
        if (rest_.size() < size) {
            fail(field, "is truncated");
            return 0;
        }
        std::uint64_t value = 0;
        for (std::size_t i = 0; i < size; ++i)
            value |= static_cast<std::uint64_t>(static_cast<unsigned char>(rest_[i])) << (8 * i);
        rest_.remove_prefix(size);
        return value;
    }

    std::string_view rest_;
    char kind_;
    FrameError error_;
};

// doc/redis-format.md §3: the 30-byte limits block.
core::ChannelLimits read_limits(Reader& in) {
    core::ChannelLimits limits;
    limits.min_buffer = in.u32("min_buffer");
    limits.max_buffer = in.u32("max_buffer");
    limits.message_timeout_ms = in.i64("message_timeout_ms");
    limits.min_recipients = in.u32("min_recipients");
    limits.delete_oldest_received = in.u8("delete_oldest_received") != 0;
    limits.channel_timeout_ms = in.i64("channel_timeout_ms");
    limits.store_messages = in.u8("store_messages") != 0;
    if (limits.min_buffer > limits.max_buffer)
        in.fail("limits", "have min_buffer above max_buffer");
    if (limits.message_timeout_ms < 0 || limits.channel_timeout_ms < 0)
        in.fail("limits", "have a negative timeout");
    return limits;
}

constexpr std::uint8_t kStoredFlag = 1;

MessageFrame read_message(Reader& in) {
    MessageFrame frame;
    frame.gen = in.u64("gen");
    frame.id = in.id("id");
    frame.prev = in.optional_id("prev id");
    frame.oldest = in.optional_id("oldest id");
    frame.expires_at_ms = in.i64("expires_at");
    const std::uint8_t flags = in.u8("flags");
    frame.stored = (flags & kStoredFlag) != 0;
    if ((flags & ~kStoredFlag) != 0)
        in.fail("flags", "has unknown bits");
    frame.limits = read_limits(in);
    frame.content_type = in.bytes("content type");
    frame.body = in.bytes("body");
    frame.event = in.bytes("event");
    if (frame.expires_at_ms < 0)
        in.fail("expires_at", "is negative");
    if (frame.prev && !in.failed() && *frame.prev >= frame.id)
        in.fail("prev id", "is not before the id");
    return frame;
}

// One kind's reader over the rest of the frame, and the result or its error.
template <typename Read>
std::variant<Frame, FrameError> decode_with(std::string_view rest, char kind, Read read) {
    Reader in(rest, kind);
    Frame frame = read(in);
    const FrameError& error = in.finish();
    if (!error.empty())
        return error;
    return frame;
}

}  // namespace

std::variant<Frame, FrameError> decode_frame(std::string_view bytes) {
    if (bytes.empty())
        return FrameError("frame: empty");
    const char kind = bytes[0];
    const std::string_view rest = bytes.substr(1);
    switch (kind) {
        case 'M':
            return decode_with(rest, kind, [](Reader& in) -> Frame { return read_message(in); });
        case 'D':
            return decode_with(rest, kind,
                               [](Reader& in) -> Frame { return DeletedFrame{in.u64("gen")}; });
        case 'K':
            return decode_with(rest, kind, [](Reader& in) -> Frame {
                KickFrame frame;
                frame.gen = in.u64("gen");
                frame.seq = in.u64("kick seq");
                return frame;
            });
        case 'T':
            return decode_with(rest, kind, [](Reader& in) -> Frame {
                TrimmedFrame frame;
                frame.gen = in.u64("gen");
                frame.oldest = in.optional_id("oldest id");
                return frame;
            });
        default: {
            const unsigned code = static_cast<unsigned char>(kind);
            return FrameError("frame: unknown kind byte " + std::to_string(code));
        }
    }
}

}  // namespace pushrelay::redis
