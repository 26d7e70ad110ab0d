// protocol/header.h — the header field type shared by the request parser and the message/http
// parser, the case-insensitive comparison HTTP field names need, and the field value syntax more
// than one responder reads (the media ranges of Accept, for channel info and status).
//
// Used by the worker processes only, through the other protocol/ headers. Pure values: nothing
// here touches sockets, shared memory or the conf module.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace pushrelay::protocol {

// One header field as it arrived: the name keeps the sender's case, the value has its leading
// and trailing whitespace removed (the parser that produced it says how).
struct Header {
    std::string name;
    std::string value;

    bool operator==(const Header&) const = default;  // exact: case and all
};

// ASCII case-insensitive equality, for field names and tokens (RFC 9110 §5.1). Not locale-aware
// on purpose: HTTP tokens are ASCII.
bool iequals(std::string_view a, std::string_view b);

// The value of the first header named `name` (case-insensitive), or nullptr. The pointer lives as
// long as `headers` is not modified.
const std::string* find_header(const std::vector<Header>& headers, std::string_view name);

// True when `s` is a non-empty RFC 9110 §5.6.2 token, as a field name must be.
bool is_token(std::string_view s);

// `s` without leading and trailing optional whitespace (spaces and tabs, RFC 9110 §5.6.3).
// The view refers to the same characters as `s`.
std::string_view trim_ows(std::string_view s);

// One media range of an Accept value (RFC 9110 §12.5.1), as sent: in "text/plain; q=0.5", type
// is "text/plain" and parameters " q=0.5". Both views refer to the Accept value's characters.
struct MediaRange {
    std::string_view type;        // "type/subtype", optional whitespace trimmed, case as sent
    std::string_view parameters;  // everything after the first ';', untrimmed; "" if none
};

// The media ranges of an Accept value, in header order; list elements without a media type
// ("a,,b") are skipped. A comma inside a quoted parameter value splits the range there: no
// responder here reads a parameter that could hold one. A vector because an Accept value holds a
// handful of ranges and this runs once per channel info or status request.
std::vector<MediaRange> media_ranges(std::string_view accept);

}  // namespace pushrelay::protocol
