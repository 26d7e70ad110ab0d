// ws/handshake.h — the server side of the WebSocket opening handshake (RFC 6455 §4.2), as
// transports.md "WebSocket" specifies it: version 13 only, the `ws+meta.nchan` subprotocol, no
// extensions.
//
// Pure functions over a parsed request: no sockets, no conf, nothing of channels. Run by the
// worker processes when push/ meets an upgrade request. The error texts and the 101 head are
// exact bytes of the contract (Nchan's), so clients written against Nchan parse them.
#pragma once

#include <string>
#include <string_view>
#include <variant>

#include "protocol/request_parser.h"

namespace pushrelay::ws {

// The subprotocol that wraps each message in `id:` / `content-type:` lines.
inline constexpr std::string_view kMetaProtocol = "ws+meta.nchan";

// Transport selection row 1: GET, `Connection` contains the token-ish substring `upgrade` and
// `Upgrade` is `websocket`, both case-insensitive.
bool is_upgrade_request(const protocol::Request& request);

// A handshake that may proceed.
struct Accepted {
    std::string accept;  // the Sec-WebSocket-Accept value
    bool meta = false;   // ws+meta.nchan was offered (anywhere in the list) and is selected
};

// A handshake refused before the upgrade: a plain HTTP answer, `text/plain`.
struct Refused {
    int status;
    std::string_view body;  // a constant
};

// Checks Sec-WebSocket-Version (13 only) and Sec-WebSocket-Key, in that order, and reads the
// offered subprotocols. Precondition: is_upgrade_request(request).
std::variant<Accepted, Refused> check_handshake(const protocol::Request& request);

// base64(SHA-1(key + the RFC 6455 GUID)).
std::string accept_key(std::string_view key);

// Whether `offered` (a Sec-WebSocket-Protocol value: a comma-separated token list) lists `name`.
bool offers_protocol(std::string_view offered, std::string_view name);

// The complete 101 head: status line, Upgrade, Connection, Sec-WebSocket-Accept, and
// Sec-WebSocket-Protocol only when `accepted.meta`; no extensions; the blank line.
std::string response_head(const Accepted& accepted);

}  // namespace pushrelay::ws
