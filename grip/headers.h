// grip/headers.h — which headers cross the GRIP proxy (grip.md "Proxying", "Response hold",
// "Stream hold"): toward the origin (and the Grip-Feature, Grip-Last and X-Forwarded-For it
// adds), back to the client as a plain response, as a hold response, and as a published
// response on top of a hold's; and the body of the proxy's 502.
//
// Run by the worker that proxies. Pure functions over header lists (protocol::Header, order and
// repeats kept): no sockets, no conf. Names compare case-insensitively; kept headers keep the
// sender's case.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "grip/instruction.h"
#include "protocol/header.h"

namespace pushrelay::grip {

using Headers = std::vector<protocol::Header>;

// The fixed hop-by-hop names: Connection, Keep-Alive, Proxy-Connection, TE, Trailer,
// Transfer-Encoding, Upgrade.
bool is_hop_by_hop(std::string_view name);

// `headers` without the hop-by-hop names and without every name listed in a Connection header.
// What a plain (non-GRIP) origin response keeps for the client; the caller adds its own framing.
Headers without_hop_by_hop(const Headers& headers);

// The request headers sent to the origin: without_hop_by_hop(), and without Expect,
// Accept-Encoding (hold bodies are spliced, so the origin must answer identity) and
// Content-Length (the caller sends the de-chunked body with its own); and without every
// Grip-* header unless `trusted` (a valid Grip-Sig under push_grip_upstream_key). The caller
// then adds Grip-Sig, Grip-Feature, X-Forwarded-For and Grip-Last.
Headers origin_request_headers(const Headers& client, bool trusted);

// The Grip-Feature value sent to the origin: what this proxy understands beyond GRIP's core
// (grows as later items of grip.md land; `filter` is not in it while filters are later).
inline constexpr std::string_view kGripFeature = "status, link:next";

// One `Grip-Last: <channel>; last-id=<prev-id>` per channel that has a prev-id, in channel
// order, for a re-request or a next-link fetch.
Headers grip_last_headers(const std::vector<HoldChannel>& channels);

// The body of the proxy's 502 (grip.md "Proxying"): the fixed text, or with push_grip_debug the
// reason (an InstructionError, or the proxy's own for a connect or read failure) and a newline.
std::string bad_gateway_body(std::string_view reason, bool debug);

enum class ForwardedFor { Append, Replace, Off };  // push_grip_x_forwarded_for

// Applies push_grip_x_forwarded_for for client address `address`: Append joins every existing
// X-Forwarded-For value and the address with ", " into one header; Replace leaves the address
// alone; Off leaves the headers as they are.
void set_forwarded_for(Headers& headers, ForwardedFor mode, std::string_view address);

// The headers of a hold response (the timeout response, a stream's initial one, and the base of
// published responses): without_hop_by_hop(), without Grip-* and Content-Length, and when
// `expose` is given (Grip-Expose-Headers) only the headers it names.
Headers hold_response_headers(const Headers& origin,
                              const std::optional<std::vector<std::string>>& expose);

// A published http-response's headers on top of the hold response's: each published name
// replaces every inherited value of that name (all published values of it are kept, in order,
// after the inherited ones left). Published hop-by-hop names and Content-Length are dropped: the
// caller frames the body with an exact Content-Length.
Headers merge_published_headers(const Headers& hold, const Headers& published);

}  // namespace pushrelay::grip
