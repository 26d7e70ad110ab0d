// protocol/response.h — serialisation of response heads, reason phrases and HTTP-dates.
//
// Owns the bytes of a response's status line and header block. Used by the worker processes:
// a head is built once per delivered message and finished once per subscriber, so building is
// kept to appends into one string. Nothing here writes to a socket or knows the conf; the header
// layout is described in doc/protocol-formats.md §5.
#pragma once

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>

namespace pushrelay::protocol {

// The reason phrase for `status` ("Not Found"), or an empty view for a status without a
// registered phrase (an empty reason is valid, RFC 9112 §4). The view refers to static storage.
std::string_view reason_phrase(int status);

// A status line plus headers, finished with the headers every response carries.
// Copyable: a head built for one message may be copied and specialised.
class ResponseHead {
  public:
    // Status line "HTTP/1.<http_minor> <status> <reason_phrase(status)>".
    // Preconditions: 100 <= status <= 599, http_minor is 0 or 1.
    ResponseHead(int status, int http_minor);
    // As above with an explicit reason (message/http bodies carry their own).
    // Precondition: `reason` contains no CR or LF.
    ResponseHead(int status, std::string_view reason, int http_minor);

    // Appends "name: value". Precondition: neither contains CR or LF (values come from parsed
    // headers, which cannot, or from constants), and the name is not one finish() adds.
    void add(std::string_view name, std::string_view value);

    // The complete head: what add() collected, then Server, Date (this second's), Content-Length
    // (left out for 1xx, 204 and 304, which have no body), Connection: keep-alive|close, and the
    // blank line. Does not change the head, so one head serves many subscribers.
    std::string finish(uint64_t content_length, bool keep_alive) const;
    // As above with Content-Length left out when `content_length` is nullopt: a stream, whose
    // length is not known when its head is sent, or a 101 Switching Protocols.
    std::string finish(std::optional<uint64_t> content_length, bool keep_alive) const;

    int status() const { return status_; }

  private:
    int status_;
    std::string head_;
};

// `t` as an IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT" (RFC 9110 §5.6.7).
std::string http_date(time_t t);

// Parses the three HTTP-date forms of RFC 9110 §5.6.7: IMF-fixdate (RFC 1123),
// "Sunday, 06-Nov-94 08:49:37 GMT" (RFC 850; years 70-99 are 19xx, 00-69 are 20xx, as nginx),
// and asctime "Sun Nov  6 08:49:37 1994". The weekday name must be a weekday name but is not
// checked against the date (nginx does not either). Anything else, including out-of-range
// fields, gives nullopt.
std::optional<time_t> parse_http_date(std::string_view text);

// A short text/plain error body: "<status> <reason phrase>: <reason>\n", or
// "<status> <reason phrase>\n" when `reason` is empty.
std::string error_body(int status, std::string_view reason);

}  // namespace pushrelay::protocol
