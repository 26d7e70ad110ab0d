// grip/instruction.h — GRIP instructions from an origin response (grip.md "GRIP instructions"):
// the `Grip-*` headers, or an `application/grip-instruct` JSON body, turned into one
// Instruction; and the next-link URI rule.
//
// Run by the worker that proxied the request, once per origin response. Pure values: no
// sockets, no conf (the caller passes the limits), no store. Every fault is an error string: the
// proxy answers 502 and, with push_grip_debug, puts the string in the body.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "protocol/header.h"

namespace pushrelay::grip {

enum class HoldMode { None, Response, Stream };

// One channel of a hold, in the order the origin named it (duplicates merged into the first).
struct HoldChannel {
    std::string name;                    // non-empty, within Limits::max_channel_id_length
    std::optional<std::string> prev_id;  // `; prev-id=` / "prev-id"
};

enum class KeepAliveMode { Idle, Interval };

// A stream hold's keep-alive: `data` after `timeout` seconds without a send (Idle) or every
// `timeout` seconds (Interval).
struct KeepAlive {
    std::string data;  // decoded (cstring, base64), never empty
    int timeout = 55;  // seconds, >= 1
    KeepAliveMode mode = KeepAliveMode::Idle;
};

// `Grip-Status: CODE[ REASON]`: replaces the status of the timeout, initial or no-hold response.
struct StatusOverride {
    int code = 200;      // 0..999
    std::string reason;  // as given, else the standard phrase (may be "")
};

// `Grip-Link: <URI>; rel=next[; timeout=N]`. `uri` is as the origin wrote it; resolve it with
// resolve_next_link() before fetching.
struct NextLink {
    std::string uri;
    int timeout = 120;  // seconds
};

// A whole response: the instruct body's "response" (and what the proxy sends for it).
struct Response {
    int code = 200;
    std::string reason;                     // as given, else the standard phrase
    std::vector<protocol::Header> headers;  // as given: the caller strips hop-by-hop names
    std::string body;
};

struct Instruction {
    HoldMode mode = HoldMode::None;
    std::vector<HoldChannel> channels;  // at most Limits::max_channels; non-empty for a hold
    size_t channels_ignored = 0;        // how many beyond max_channels were dropped (to log)
    std::optional<int64_t> timeout;     // Grip-Timeout / "timeout" in seconds, unclamped: see
                                        // hold_timeout()
    std::optional<KeepAlive> keep_alive;
    std::optional<StatusOverride> status;            // header form only
    std::optional<NextLink> next;                    // header form only
    std::optional<std::vector<std::string>> expose;  // Grip-Expose-Headers names, if given
    // The instruct form's replacement for the origin's status, headers and body (always set for
    // that form; unset for the header form, where the origin's own response is the hold's).
    std::optional<Response> response;
};

struct Limits {
    size_t max_channels = 20;             // push_grip_max_channels
    size_t max_channel_id_length = 1024;  // push_max_channel_id_length
};

// Why an origin response is not valid GRIP, for the 502 (debug body and error log).
using InstructionError = std::string;

// True when the origin response is a GRIP response (grip.md "Proxying"): any header whose name
// starts with "Grip-" (case-insensitive), or a Content-Type of application/grip-instruct
// (parameters ignored). Such a response is read whole and given to parse_instruction().
bool is_grip_response(const std::vector<protocol::Header>& headers);

// True when the Content-Type names application/grip-instruct.
bool is_instruct_body(const std::vector<protocol::Header>& headers);

// The instruction of a GRIP response: from its JSON body when is_instruct_body() (then `status`
// must be 200 and the Grip-* headers are not read), else from its Grip-* headers (`body` unused).
std::variant<Instruction, InstructionError> parse_instruction(
    int status, const std::vector<protocol::Header>& headers, std::string_view body,
    const Limits& limits);

// The header form alone: Grip-Hold, Grip-Channel, Grip-Timeout, Grip-Keep-Alive, Grip-Status,
// Grip-Link, Grip-Expose-Headers. Repeated single-valued headers: the first counts.
std::variant<Instruction, InstructionError> parse_instruction_headers(
    const std::vector<protocol::Header>& headers, const Limits& limits);

// The instruct form alone (grip.md "Instruct body"), given the origin's status.
std::variant<Instruction, InstructionError> parse_instruct_body(int status, std::string_view body,
                                                                const Limits& limits);

// A response hold's timeout in seconds: the instruction's, raised to `min_seconds`
// (push_grip_hold_timeout_min), else `default_seconds` (push_grip_hold_timeout).
int64_t hold_timeout(const Instruction& instruction, int64_t default_seconds, int64_t min_seconds);

// Resolves a next link's URI against the request-target of the client request (origin form,
// "/path?query") into the origin-form target to GET from the origin. An absolute URI
// ("http://host:port/…" or "//host:port/…") must name `origin_authority` — the location's
// push_grip_proxy "host:port" (port 80 may be left out of the URI) — else it is an error
// (decision: no open fetcher). Dot segments are removed, a fragment dropped.
struct LinkTarget {
    std::string target;  // origin form: "/path?query"
};
std::variant<LinkTarget, InstructionError> resolve_next_link(std::string_view uri,
                                                             std::string_view request_target,
                                                             std::string_view origin_authority);

}  // namespace pushrelay::grip
