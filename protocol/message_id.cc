#include "protocol/message_id.h"

#include <charconv>
#include <string_view>

#include "protocol/header.h"
#include "protocol/response.h"

namespace pushrelay::protocol {

namespace {

// An entity-tag as the module's clients send it: a bare integer (what the module sends), or the
// RFC 9110 forms "3" and W/"3" that browsers and caches produce from it.
uint32_t parse_tag(std::string_view value) {
    value = trim_ows(value);
    if (value.starts_with("W/")) {
        value.remove_prefix(2);
    }
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
        value = value.substr(1, value.size() - 2);
    }
    uint32_t tag = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), tag);
    if (ec != std::errc{} || end != value.data() + value.size() || value.empty()) {
        return 0;
    }
    return tag;
}

}  // namespace

std::optional<core::MessageId> parse_message_id(const std::string* if_modified_since,
                                                const std::string* if_none_match) {
    if (if_modified_since == nullptr) {
        return std::nullopt;
    }
    std::optional<time_t> time = parse_http_date(trim_ows(*if_modified_since));
    uint32_t tag = if_none_match != nullptr ? parse_tag(*if_none_match) : 0;
    return core::MessageId{time.value_or(0), tag};
}

std::string format_etag(uint32_t tag) {
    return std::to_string(tag);
}

std::string format_message_id(core::MessageId id) {
    return std::to_string(id.time) + ":" + format_etag(id.tag);
}

}  // namespace pushrelay::protocol
