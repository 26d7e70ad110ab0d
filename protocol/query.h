// protocol/query.h — reading arguments out of a request's query string.
//
// The one scanner of `name=value&...` in the tree: the conf module's $arg_NAME variables (expanded
// by workers per request) and the status location's `format=` argument both read through it, so
// that they agree on what an argument is. Pure functions on views: no allocation, no state,
// nothing from the conf, worker or shm modules.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace pushrelay::protocol {

// The raw (still percent-encoded) value of the first `name=value` argument of query, the part of
// the request target after '?' without it. As nginx's $arg_NAME: arguments are split on '&', the
// name is compared ignoring ASCII case and must be followed by '=' ("?flag" has no argument
// "flag"); "name=" gives an empty value. nullopt if no argument matches. The view refers to
// query's characters.
std::optional<std::string_view> query_argument(std::string_view query, std::string_view name);

// Decodes %XX escapes as nginx does for $uri into `out` (reusing its capacity). A malformed
// escape or %00 (which would let a NUL into channel ids, log lines or a conf value) is an
// error: false, `out` then undefined.
bool percent_decode(std::string_view raw, std::string& out);

}  // namespace pushrelay::protocol
