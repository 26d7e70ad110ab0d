// protocol/message_http.h — publisher bodies of type message/http.
//
// A publisher that posts "Content-Type: message/http" sends a whole HTTP response as the body;
// subscribers receive that status, those headers and that body instead of a 200. This module
// owns the parsing and validation of such a body (done once, at publish time, in the worker that
// received the publish). It does not store or deliver anything. The accepted syntax is
// doc/protocol-formats.md §3.
#pragma once

#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "protocol/header.h"

namespace pushrelay::protocol {

// Whether a Content-Type value names message/http: the media type before any parameter, compared
// case-insensitively (RFC 9110 §8.3.1), so "Message/HTTP; x=1" is one too. The one test used both
// when a publish is validated and when a stored message is delivered.
bool is_message_http(std::string_view content_type);

struct HttpMessage {
    int status;                   // 200..599
    std::string reason;           // may be empty
    std::vector<Header> headers;  // in order, values trimmed; without the headers the relay sets
                                  // itself (Content-Length, Transfer-Encoding, Connection,
                                  // Keep-Alive, Server, Date)
    std::string_view body;        // the bytes after the blank line; a view into the parsed text,
                                  // valid as long as that text is
};

// Parses "HTTP/1.x NNN Reason" CRLF, header lines, an empty line, then the body (any bytes).
// Bare LF line ends are accepted as well. Errors — not a status line, a status outside
// 200..599 (a 1xx is not a final response), a header line without ':' or with a bad name, control
// characters, obsolete line folding, no empty line after the headers, a body on a 204 or 304 —
// give a one-line description of what is wrong, for the publisher's 400 body.
std::variant<HttpMessage, std::string> parse_message_http(std::string_view text);

}  // namespace pushrelay::protocol
