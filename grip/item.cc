// grip/item.cc — see item.h. The checks run in Pushpin's order (channel, id, prev-id, formats,
// http-response, http-stream, no-seq) so that a body with several faults names the one Pushpin
// would name.
#include "grip/item.h"

#include "core/bytes.h"
#include "grip/json_fields.h"
#include "protocol/response.h"

namespace pushrelay::grip {

namespace {

using json::Json;

constexpr std::string_view kItemOwner = "publish item object";

// What every format starts with: it is an object, and its action (default send). Only a send
// carries more fields.
bool parse_format_head(const Json& format, std::string_view owner, Action& action,
                       std::string& error) {
    if (!format.is_object()) {
        error = std::string(owner) + " is not an object";
        return false;
    }
    std::optional<std::string> name;
    if (!json::optional_string(format, owner, "action", name, error))
        return false;
    if (!name || *name == "send") {
        action = Action::Send;
    } else if (*name == "hint") {
        action = Action::Hint;
    } else if (*name == "close") {
        action = Action::Close;
    } else {
        // Pushpin answers an unknown action with an empty message ("Invalid format: \n"); this
        // names the fault in the words Pushpin uses for an unknown ws-message type.
        error = std::string(owner) + " contains 'action' with unknown value";
        return false;
    }
    return true;
}

// A send's fields of http-response; false with `error` set on a fault.
bool parse_response_send(const Json& v, std::string_view owner, HttpResponseFormat& f,
                         std::string& error) {
    if (const Json* code = json::member(v, "code")) {
        // Pushpin tells a code that is no number apart from one out of range.
        if (!json::integer(*code, INT32_MIN, INT32_MAX)) {
            error = json::wrong_type(owner, "code");
            return false;
        }
        std::optional<long long> n = json::integer(*code, 0, 999);
        if (!n) {
            error = json::invalid_value(owner, "code");
            return false;
        }
        f.code = static_cast<int>(*n);
    }
    std::optional<std::string> reason;
    if (!json::optional_string(v, owner, "reason", reason, error))
        return false;
    f.reason = reason && !reason->empty() ? *reason : std::string(protocol::reason_phrase(f.code));
    if (f.reason.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
        error = json::invalid_value(owner, "reason");
        return false;
    }
    if (const Json* headers = json::member(v, "headers")) {
        if (!json::headers(*headers, owner, f.headers, error))
            return false;
    }
    const json::Payload body = json::text_or_bin(v, owner, "body", "body-bin", f.body, error);
    if (body != json::Payload::Absent)
        return body == json::Payload::Found;
    if (json::member(v, "body-patch")) {
        error = std::string(owner) + " contains 'body-patch', which is not supported";
        return false;
    }
    error = std::string(owner) + " does not contain 'body', 'body-bin', or 'body-patch'";
    return false;
}

// A send's fields of http-stream.
bool parse_stream_send(const Json& v, std::string_view owner, HttpStreamFormat& f,
                       std::string& error) {
    const json::Payload content =
        json::text_or_bin(v, owner, "content", "content-bin", f.content, error);
    if (content == json::Payload::Absent)
        error = std::string(owner) + " does not contain 'content' or 'content-bin'";
    return content == json::Payload::Found;
}

// A format: its head, then for a send the fields `send_fields` reads.
template <typename Format>
std::optional<Format> parse_format(const Json& v, std::string_view owner,
                                   bool (*send_fields)(const Json&, std::string_view, Format&,
                                                       std::string&),
                                   std::string& error) {
    Format f;
    if (!parse_format_head(v, owner, f.action, error))
        return std::nullopt;
    if (f.action == Action::Send && !send_fields(v, owner, f, error))
        return std::nullopt;
    return f;
}

std::optional<Item> parse_item(const Json& v, size_t max_channel_id_length, std::string& error) {
    if (!v.is_object()) {
        error = std::string(kItemOwner) + " is not an object";
        return std::nullopt;
    }
    Item item;
    const Json* channel = json::member(v, "channel");
    if (!channel) {
        error = std::string(kItemOwner) + " does not contain 'channel'";
        return std::nullopt;
    }
    if (!channel->is_string()) {
        error = json::wrong_type(kItemOwner, "channel");
        return std::nullopt;
    }
    item.channel = channel->get<std::string>();
    // Decision (grip.md): Pushpin accepts "", which no hold can name.
    if (item.channel.empty() || item.channel.size() > max_channel_id_length) {
        error = json::invalid_value(kItemOwner, "channel");
        return std::nullopt;
    }
    if (!json::optional_string(v, kItemOwner, "id", item.id, error) ||
        !json::optional_string(v, kItemOwner, "prev-id", item.prev_id, error)) {
        return std::nullopt;
    }
    // Without `formats` the format keys sit on the item itself (the "JSON style").
    const Json* formats = json::member(v, "formats");
    if (formats && !formats->is_object()) {
        error = json::wrong_type(kItemOwner, "formats");
        return std::nullopt;
    }
    const Json& holder = formats ? *formats : v;
    const Json* response = json::member(holder, "http-response");
    const Json* stream = json::member(holder, "http-stream");
    // As Pushpin: an empty `formats` object is an error, one holding only unknown names is not.
    const bool none =
        formats ? formats->empty() : !response && !stream && !json::member(holder, "ws-message");
    if (none) {
        error = "no formats specified";
        return std::nullopt;
    }
    if (response) {
        item.http_response = parse_format(*response, "'http-response'", parse_response_send, error);
        if (!item.http_response)
            return std::nullopt;
    }
    if (stream) {
        item.http_stream = parse_format(*stream, "'http-stream'", parse_stream_send, error);
        if (!item.http_stream)
            return std::nullopt;
    }
    if (const Json* no_seq = json::member(v, "no-seq")) {
        if (!no_seq->is_boolean()) {
            error = json::wrong_type(kItemOwner, "no-seq");
            return std::nullopt;
        }
        item.no_seq = no_seq->get<bool>();
    }
    return item;
}

}  // namespace

std::variant<std::vector<Item>, PublishError> parse_publish_body(std::string_view body,
                                                                 size_t max_channel_id_length) {
    std::optional<Json> doc = json::parse(body);
    if (!doc)
        return PublishError("Body is not valid JSON.\n");
    if (!doc->is_object())
        return PublishError("Invalid format.\n");
    const Json* items = json::member(*doc, "items");
    if (!items)
        return PublishError("Invalid format: object does not contain 'items'\n");
    if (!items->is_array())
        return PublishError("Invalid format: object contains 'items' with wrong type\n");
    std::vector<Item> out;
    out.reserve(items->size());
    std::string error;
    for (const Json& v : *items) {
        std::optional<Item> item = parse_item(v, max_channel_id_length, error);
        if (!item)
            return PublishError("Invalid format: " + error + "\n");
        out.push_back(std::move(*item));
    }
    return out;
}

// Packed layout (core/bytes.h: integers in native byte order, the bytes never leave the server):
//   u8 version (kPackVersion)
//   u8 flags: 1 id, 2 prev-id, 4 no-seq, 8 http-response, 16 http-stream
//   str channel; [str id]; [str prev-id]
//   [http-response: u8 action, u16 code, str reason, u32 header count, (str name, str value)*,
//    str body]
//   [http-stream: u8 action, str content]
// where str = u32 length + bytes (put_string). Nothing may follow.
namespace {

constexpr uint8_t kPackVersion = 1;
enum : uint8_t { kId = 1, kPrevId = 2, kNoSeq = 4, kResponse = 8, kStream = 16 };

using core::ByteReader;
using core::put_bytes;
using core::put_string;

bool get_action(ByteReader& in, Action& a) {
    uint8_t v = 0;
    if (!in.get(v) || v > static_cast<uint8_t>(Action::Close))
        return false;
    a = static_cast<Action>(v);
    return true;
}

}  // namespace

std::string pack_item(const Item& item) {
    std::string out;
    uint8_t flags = (item.id ? kId : 0) | (item.prev_id ? kPrevId : 0) |
                    (item.no_seq ? kNoSeq : 0) | (item.http_response ? kResponse : 0) |
                    (item.http_stream ? kStream : 0);
    put_bytes<uint8_t>(out, kPackVersion);
    put_bytes<uint8_t>(out, flags);
    put_string(out, item.channel);
    if (item.id)
        put_string(out, *item.id);
    if (item.prev_id)
        put_string(out, *item.prev_id);
    if (const HttpResponseFormat* r = item.http_response ? &*item.http_response : nullptr) {
        put_bytes<uint8_t>(out, static_cast<uint8_t>(r->action));
        put_bytes<uint16_t>(out, static_cast<uint16_t>(r->code));
        put_string(out, r->reason);
        put_bytes<uint32_t>(out, static_cast<uint32_t>(r->headers.size()));
        for (const protocol::Header& h : r->headers) {
            put_string(out, h.name);
            put_string(out, h.value);
        }
        put_string(out, r->body);
    }
    if (item.http_stream) {
        put_bytes<uint8_t>(out, static_cast<uint8_t>(item.http_stream->action));
        put_string(out, item.http_stream->content);
    }
    return out;
}

std::optional<Item> unpack_item(std::string_view bytes) {
    ByteReader in(bytes);
    uint8_t version = 0, flags = 0;
    Item item;
    if (!in.get(version) || version != kPackVersion || !in.get(flags) || flags >= 32 ||
        !in.get_string(item.channel)) {
        return std::nullopt;
    }
    if (flags & kId && !in.get_string(item.id.emplace()))
        return std::nullopt;
    if (flags & kPrevId && !in.get_string(item.prev_id.emplace()))
        return std::nullopt;
    item.no_seq = flags & kNoSeq;
    if (flags & kResponse) {
        HttpResponseFormat& r = item.http_response.emplace();
        uint16_t code = 0;
        uint32_t count = 0;
        if (!get_action(in, r.action) || !in.get(code) || code > 999 || !in.get_string(r.reason) ||
            !in.get(count)) {
            return std::nullopt;
        }
        r.code = code;
        // No reserve(count): a corrupt count must not allocate; each header costs 8+ bytes.
        for (uint32_t i = 0; i < count; ++i) {
            protocol::Header h;
            if (!in.get_string(h.name) || !in.get_string(h.value))
                return std::nullopt;
            r.headers.push_back(std::move(h));
        }
        if (!in.get_string(r.body))
            return std::nullopt;
    }
    if (flags & kStream) {
        HttpStreamFormat& s = item.http_stream.emplace();
        if (!get_action(in, s.action) || !in.get_string(s.content))
            return std::nullopt;
    }
    if (!in.done())
        return std::nullopt;
    return item;
}

}  // namespace pushrelay::grip
