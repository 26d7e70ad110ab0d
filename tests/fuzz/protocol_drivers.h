// tests/fuzz/protocol_drivers.h — the code the protocol fuzz targets run, shared with the unit
// test that replays their corpora (tests/protocol/fuzz_corpus_test.cc).
//
// Each driver takes one fuzz input, runs it through protocol/ the way the worker would, and
// checks what the module promises about the result. It returns an empty string when everything
// held, else one line naming the broken promise: the fuzz target aborts on it (a finding), the
// unit test fails on it. A crash or a sanitizer report is a finding either way. Header-only so
// that the fuzz build (clang, build-fuzz/) and the unit tests (g++, CMake) compile the same code.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "protocol/message_http.h"
#include "protocol/message_id.h"
#include "protocol/request_parser.h"
#include "protocol/response.h"

namespace pushrelay::fuzz {

// The request path of a connection. Input layout: byte 0 chooses how the stream is cut into
// packets (1..64 bytes each, so one-byte-per-packet arrivals are covered) and whether the
// location has a 64-byte body limit; the rest is the byte stream from the client. Unconsumed
// bytes stay buffered and are fed again, as http/connection.cc does. When `tally` is given it
// counts the requests completed and records the error status that ended the stream (0: none).
struct RequestTally {
    size_t completed = 0;
    int error_status = 0;
};
inline std::string run_request_parser(std::string_view input, RequestTally* tally = nullptr) {
    using Event = protocol::RequestParser::Event;
    if (input.empty())
        return {};
    const size_t packet = (static_cast<uint8_t>(input[0]) & 0x3f) + 1;
    const uint64_t body_limit = (static_cast<uint8_t>(input[0]) & 0x40) ? 64 : 0;
    const protocol::RequestParser::Limits limits{1024, 16};  // small, to reach the 431 paths
    std::string_view stream = input.substr(1);

    protocol::RequestParser parser(limits);
    std::string buffered;
    size_t pos = 0;
    for (size_t off = 0; off < stream.size(); off += packet) {
        buffered.append(stream.substr(off, packet));
        // A parser that returns without consuming anything or pausing would spin the worker.
        for (int stalls = 0;;) {
            const size_t avail = buffered.size() - pos;
            protocol::RequestParser::Step step = parser.feed(buffered.data() + pos, avail);
            if (step.consumed > avail)
                return "feed consumed more bytes than it was given";
            pos += step.consumed;
            stalls = step.consumed == 0 ? stalls + 1 : 0;
            if (stalls > 2)
                return "feed made no progress three times in a row";
            if (step.event == Event::NeedMore) {
                if (pos != buffered.size())
                    return "NeedMore left bytes unconsumed";
                break;
            }
            if (step.event == Event::Error) {
                const int status = parser.error_status();
                if (status != 400 && status != 413 && status != 414 && status != 431 &&
                    status != 505 && status != 500) {
                    return "unexpected error status " + std::to_string(status);
                }
                if (parser.error_reason().empty())
                    return "error without a reason";
                if (tally)
                    tally->error_status = status;
                if (parser.feed("x", 1).event != Event::Error)
                    return "feed after Error recovered";
                return {};
            }
            const protocol::Request& req = parser.request();
            if (req.path.find('\0') != std::string::npos)
                return "NUL in the decoded path";
            if (req.headers.size() > limits.max_headers)
                return "more headers than the limit";
            if (step.event == Event::HeadersComplete) {
                parser.set_body_limit(body_limit);
                if (parser.error_status() != 0 && parser.error_status() != 413) {
                    return "set_body_limit failed with " + std::to_string(parser.error_status());
                }
                continue;
            }
            // MessageComplete: the worker answers, resets, and parses what follows.
            if (body_limit != 0 && req.body.size() > body_limit)
                return "body over the limit";
            if (tally)
                tally->completed++;
            parser.reset();
            stalls = 0;
        }
    }
    return {};
}

// If-Modified-Since / If-None-Match as a subscriber sends them. Input layout: the two header
// values separated by the first NUL byte (the second absent when there is none).
inline std::string run_message_id(std::string_view input) {
    const size_t nul = input.find('\0');
    const std::string ims(input.substr(0, nul));
    const std::string inm = nul == std::string_view::npos ? "" : std::string(input.substr(nul + 1));
    std::optional<core::MessageId> id =
        protocol::parse_message_id(&ims, nul == std::string_view::npos ? nullptr : &inm);
    if (!id)
        return "an If-Modified-Since value gave no id";
    if (protocol::parse_message_id(nullptr, &inm))
        return "no If-Modified-Since gave an id";
    // A date that parses must survive formatting and parsing again: the Last-Modified a
    // subscriber gets back from us is what it sends next time.
    std::optional<time_t> t = protocol::parse_http_date(ims);
    if (t && protocol::parse_http_date(protocol::http_date(*t)) != t) {
        return "http_date(parse_http_date(x)) does not parse back to the same time";
    }
    return {};
}

// A publisher's message/http body.
inline std::string run_message_http(std::string_view input) {
    auto parsed = protocol::parse_message_http(input);
    if (const std::string* error = std::get_if<std::string>(&parsed)) {
        if (error->empty())
            return "an error without a description";
        if (error->find('\n') != std::string::npos)
            return "a multi-line error description";
        return {};
    }
    const protocol::HttpMessage& msg = std::get<protocol::HttpMessage>(parsed);
    if (msg.status < 200 || msg.status > 599)
        return "status out of 200..599";
    if (msg.body.data() < input.data() ||
        msg.body.data() + msg.body.size() != input.data() + input.size()) {
        return "body is not the tail of the input";
    }
    if ((msg.status == 204 || msg.status == 304) && !msg.body.empty())
        return "body on 204/304";
    for (const protocol::Header& h : msg.headers) {
        if (h.name.empty())
            return "empty header name";
        for (char c : h.name + h.value) {
            if (c == '\r' || c == '\n' || c == '\0')
                return "control byte in a header: " + h.name;
        }
    }
    return {};
}

}  // namespace pushrelay::fuzz
