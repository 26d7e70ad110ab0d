// upstream/response_parser.h — an incremental HTTP/1.x response parser for one origin connection.
//
// Owns the parse state of the response arriving on a connection toward an origin: llhttp's state
// machine in HTTP_RESPONSE mode, the status line and the headers. It never reads a socket and never
// keeps body bytes: each piece of body is handed out as a view of the bytes being fed, so a large
// body is never buffered here. Used by upstream::Call (worker processes); pure wire format, it
// would sit in protocol/ but for the rule that protocol/ knows only the server side (requests).
//
// The parser stops (returns) at every event the caller must act on, so the caller can hand each
// to its observer outside llhttp's callbacks (where the observer may pause or destroy the call):
//   Head     the final status line and headers (1xx interim responses, 100-continue included,
//            are skipped whole);
//   Body     a piece of de-chunked body;
//   Complete the response ended (after which the parser accepts nothing more).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/header.h"

namespace pushrelay::upstream {

// The status line and headers of a response, as the origin sent them.
struct ResponseHead {
    int status = 0;
    std::string reason;  // the reason phrase verbatim (may be empty)
    int http_major = 1;
    int http_minor = 1;
    // In arrival order, repeats kept, names in the origin's case, values trimmed of surrounding
    // whitespace (which is not part of a field value, RFC 9110 §5.5).
    std::vector<protocol::Header> headers;
    // The body arrives Transfer-Encoding: chunked; the Body events carry it de-chunked.
    bool chunked = false;
    // No body follows: a response to HEAD, a 204 or a 304.
    bool bodiless = false;
};

class ResponseParser {
  public:
    struct Limits {
        size_t max_header_bytes = 65536;  // status line + header names and values
        size_t max_headers = 100;
    };
    enum class Event { NeedMore, Head, Body, Complete, Error };
    // `consumed` bytes of the given buffer were used; the rest must be fed again. For Body,
    // `body` views the piece inside the fed buffer (valid as long as that buffer).
    struct Step {
        Event event;
        size_t consumed;
        std::string_view body;
    };

    // `head_request`: the request was HEAD, so the response has no body whatever it announces.
    ResponseParser(bool head_request, Limits limits);
    ~ResponseParser();
    ResponseParser(const ResponseParser&) = delete;
    ResponseParser& operator=(const ResponseParser&) = delete;

    // Parses up to `len` bytes and returns at the first event. After Head, feed the rest even if
    // it is empty: a bodiless response completes on that feed. After Complete or Error every
    // call returns the same event, consumed 0.
    Step feed(const char* data, size_t len);
    // The origin closed the connection: Complete when that ends a close-delimited body, else
    // Error ("truncated response"). The same rule as feed() after Complete or Error.
    Step finish();

    // Valid from Head on.
    const ResponseHead& head() const;
    // Whether the connection may carry another request after Complete: HTTP/1.1 without
    // "Connection: close", HTTP/1.0 with "Connection: keep-alive", and not close-delimited.
    bool keep_alive() const;
    // True once any byte of the response was fed (interim responses count).
    bool started() const;
    // After Error: a short reason for the error log and the caller ("malformed response: ...").
    std::string_view error() const;

    class Impl;  // the llhttp glue; public so the C callbacks in the .cc can name it

  private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace pushrelay::upstream
