// protocol/header.h — the header field type shared by the request parser and the message/http
// parser, and the case-insensitive comparison HTTP field names need.
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

}  // namespace pushrelay::protocol
