// core/peer_address.h — a socket address as text, the one formatter for logs and $remote_addr.
#pragma once

#include <sys/socket.h>

#include <string>
#include <string_view>

namespace pushrelay::core {

// "127.0.0.1" or "::1" (no port); "-" for a family other than IPv4 and IPv6 (a Unix socket).
std::string peer_address(const sockaddr* peer);

// The address's raw bytes, as nginx's $binary_remote_addr: 4 for IPv4, 16 for IPv6, none for
// another family. The view points into *peer.
std::string_view binary_peer_address(const sockaddr* peer);

}  // namespace pushrelay::core
