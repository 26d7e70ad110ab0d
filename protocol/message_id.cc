#include "protocol/message_id.h"

#include <charconv>
#include <climits>
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

namespace {

std::optional<uint64_t> parse_decimal(std::string_view digits, uint64_t max) {
    uint64_t v = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
    if (digits.empty() || ec != std::errc{} || end != digits.data() + digits.size() || v > max)
        return std::nullopt;
    return v;
}

}  // namespace

std::optional<IdList> parse_tag_list(std::string_view text) {
    IdList out;
    bool bracketed_any = false;
    for (;;) {
        const size_t comma = text.find(',');
        std::string_view tag = text.substr(0, comma);
        if (tag.size() >= 2 && tag.front() == '[' && tag.back() == ']') {
            if (out.source)
                return std::nullopt;  // more than one `[...]`
            out.source = out.tags.size();
            bracketed_any = true;
            tag = tag.substr(1, tag.size() - 2);
        }
        if (tag == "-") {
            out.tags.emplace_back();
        } else if (std::optional<uint64_t> t = parse_decimal(tag, UINT32_MAX)) {
            out.tags.emplace_back(static_cast<uint32_t>(*t));
        } else {
            return std::nullopt;
        }
        if (comma == std::string_view::npos)
            break;
        text.remove_prefix(comma + 1);
    }
    if (out.tags.size() > 1 && !bracketed_any)
        return std::nullopt;
    return out;
}

std::optional<IdList> parse_id_list(std::string_view text) {
    const size_t colon = text.find(':');
    if (colon == std::string_view::npos)
        return std::nullopt;
    std::optional<uint64_t> time =
        parse_decimal(text.substr(0, colon), static_cast<uint64_t>(INT64_MAX));
    if (!time)
        return std::nullopt;
    std::optional<IdList> out = parse_tag_list(text.substr(colon + 1));
    if (out)
        out->time = static_cast<int64_t>(*time);
    return out;
}

IdList id_list_from_headers(const std::string* if_modified_since,
                            const std::string* if_none_match) {
    core::MessageId id =
        parse_message_id(if_modified_since, if_none_match).value_or(core::MessageId{});
    IdList out{id.time, {id.tag}, std::nullopt};
    if (if_none_match) {
        // A tag list comes back as the Etag it was sent as; only a list has `,`, `[` or `-`.
        std::string_view value = trim_ows(*if_none_match);
        if (value.find_first_of(",[-") != std::string_view::npos) {
            if (std::optional<IdList> list = parse_tag_list(value)) {
                list->time = id.time;
                return *list;
            }
        }
    }
    return out;
}

core::MessageId resume_point(const IdList& named, size_t position, size_t channels) {
    std::optional<uint32_t> tag;
    if (channels == 1)
        tag = named.tags[named.source.value_or(0)];
    else if (position < named.tags.size())
        tag = named.tags[position];
    if (tag)
        return core::MessageId{named.time, *tag};
    // `-`: the first message at time >= `time`, i.e. after the last possible one of time - 1.
    if (named.time == 0)
        return core::MessageId{0, 0};
    return core::MessageId{named.time - 1, UINT32_MAX};
}

std::string format_tag_list(std::span<const std::optional<uint32_t>> tags, size_t source) {
    std::string out;
    for (size_t i = 0; i < tags.size(); ++i) {
        if (i > 0)
            out += ',';
        if (i == source)
            out += '[';
        out += tags[i] ? format_etag(*tags[i]) : "-";
        if (i == source)
            out += ']';
    }
    return out;
}

MultiplexedIds::MultiplexedIds(size_t channels, const std::optional<IdList>& resumed)
    : tags_(channels) {
    if (!resumed)
        return;
    time_ = resumed->time;
    for (size_t i = 0; i < channels && i < resumed->tags.size(); ++i) tags_[i] = resumed->tags[i];
}

std::string MultiplexedIds::next(size_t position, core::MessageId id) {
    if (time_ != id.time) {
        time_ = id.time;
        for (std::optional<uint32_t>& tag : tags_) tag.reset();
    }
    tags_[position] = id.tag;
    return format_tag_list(tags_, position);
}

}  // namespace pushrelay::protocol
