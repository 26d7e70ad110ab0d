// protocol/request_parser.h — an incremental HTTP/1.x request parser for one connection.
//
// Owns the parse state of the request currently arriving on a connection: llhttp's state machine
// (strict: no lenient flags), the request line, the headers and the body read so far. A worker
// process keeps one RequestParser per client connection and feeds it whatever bytes recv()
// returned; the parser never reads or writes a socket, never looks at the conf, and never holds
// more than the limits it was given (the header block) or the body limit the caller sets.
//
// The parser pauses twice per request, so the caller is in control at the two points it needs:
//   - HeadersComplete: the request line and headers are known; the caller routes the request,
//     sets the body limit (client_max_body_size of the location), may send "100 Continue".
//   - MessageComplete: the body is complete; bytes after it (a pipelined request) are left
//     unconsumed for the caller to feed again after reset().
// Wire-level decisions (percent-decoding of the path, status codes for each error) are written
// down in doc/protocol-formats.md §4.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/header.h"

namespace pushrelay::protocol {

// A request as parsed so far. Fields are filled in as the parser reaches them: the request line
// and headers are complete at HeadersComplete, the body and keep_alive at MessageComplete.
struct Request {
    std::string method;  // "GET", "POST", ... as llhttp names it
    std::string target;  // the raw request-target
    std::string path;    // target before '?', percent-decoded (never contains NUL); for an
                         // absolute-form target ("http://host/p"), only the path part ("/p")
    std::string query;   // after the first '?', not decoded (empty if none)
    int http_major = 1;
    int http_minor = 1;
    std::vector<Header> headers;  // in arrival order, values trimmed of surrounding whitespace
    std::string body;             // binary-safe; chunked bodies arrive de-chunked
    bool keep_alive = false;      // llhttp_should_keep_alive at message completion

    // The first header named `name` (ASCII case-insensitive) or nullptr; valid until the
    // request is modified or the parser reset.
    const std::string* header(std::string_view name) const;
};

class RequestParser {
  public:
    struct Limits {
        size_t max_header_bytes = 16384;  // request line + headers + the blank line
        size_t max_headers = 100;
    };
    enum class Event {
        NeedMore,         // every byte given was consumed; feed more when it arrives
        HeadersComplete,  // request line and headers are in request(); see set_body_limit()
        MessageComplete,  // request() is complete; call reset() before feeding the next bytes
        Error,            // error_status() / error_reason() say why; the connection must close
    };
    // `consumed` bytes of the buffer given to feed() belong to this request; the rest has not
    // been looked at and must be given again to the next feed().
    struct Step {
        Event event;
        size_t consumed;
    };

    RequestParser();
    explicit RequestParser(Limits limits);
    ~RequestParser();
    RequestParser(const RequestParser&) = delete;
    RequestParser& operator=(const RequestParser&) = delete;
    // Movable: the llhttp state lives on the heap, so moving does not invalidate it.
    RequestParser(RequestParser&&) noexcept;
    RequestParser& operator=(RequestParser&&) noexcept;

    // Parses up to `len` bytes of `data` (which need not outlive the call: everything kept is
    // copied). Stops right after the header block (HeadersComplete) and right after a complete
    // message (MessageComplete), so a buffer holding two pipelined requests yields
    // HeadersComplete, MessageComplete, then (after reset() and feeding the rest) the second.
    // After HeadersComplete, feed the remaining bytes (possibly zero: a request without a body
    // completes with an empty feed). After Error every call returns Error, consumed 0.
    Step feed(const char* data, size_t len);

    // Sets the largest body accepted for the current request; 0 means unlimited. Call after
    // HeadersComplete and before the next feed(). A Content-Length over the limit fails at once
    // (error_status() is 413 on return and the next feed() returns Error); a chunked body fails
    // with 413 when it grows past the limit.
    void set_body_limit(uint64_t max_bytes);

    // The request being parsed; complete only after MessageComplete. The caller may move the
    // body out of the mutable overload before reset().
    const Request& request() const;
    Request& request();

    // After Error: 400 (malformed request), 413 (body over the limit), 414 (the request line alone
    // reaches max_header_bytes), 431 (the header block or header count over the limit), 505 (an
    // HTTP major version other than 1), or 500 (out of memory).
    // 0 when there is no error.
    int error_status() const;
    // A short human-readable reason for the error body and the error log; empty if no error.
    // Valid until the next call on this parser.
    std::string_view error_reason() const;

    // Forgets the request and prepares for the next one on the same connection (after
    // MessageComplete). Keeps the limits; the body limit goes back to unlimited. The request's
    // strings are emptied, their memory kept for the next request.
    void reset();

    // True when the request carries "Expect: 100-continue" (valid from HeadersComplete on).
    bool expects_continue() const;

    class Impl;  // the llhttp glue; public only so the C callbacks in the .cc can name it

  private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace pushrelay::protocol
