#include "ws/handshake.h"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cctype>

#include "protocol/header.h"

namespace pushrelay::ws {
namespace {

constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

bool icontains(std::string_view haystack, std::string_view needle) {
    auto it = std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end(),
                          [](char a, char b) {
                              return std::tolower(static_cast<unsigned char>(a)) ==
                                     std::tolower(static_cast<unsigned char>(b));
                          });
    return it != haystack.end();
}

}  // namespace

bool is_upgrade_request(const protocol::Request& request) {
    if (request.method != "GET")
        return false;
    const std::string* connection = request.header("Connection");
    const std::string* upgrade = request.header("Upgrade");
    return connection && upgrade && icontains(*connection, "upgrade") &&
           protocol::iequals(protocol::trim_ows(*upgrade), "websocket");
}

std::variant<Accepted, Refused> check_handshake(const protocol::Request& request) {
    const std::string* version = request.header("Sec-WebSocket-Version");
    if (!version)
        return Refused{400, "No Sec-Websocket-Version header present"};
    if (protocol::trim_ows(*version) != "13")
        return Refused{400,
                       "Unsupported websocket protocol version (only version 13 is supported)"};
    const std::string* key = request.header("Sec-WebSocket-Key");
    if (!key || protocol::trim_ows(*key).empty())
        return Refused{400, "No Sec-Websocket-Key header present"};
    Accepted accepted;
    accepted.accept = accept_key(protocol::trim_ows(*key));
    // Every Sec-WebSocket-Protocol header counts (a client may send the list in several).
    for (const protocol::Header& h : request.headers) {
        if (protocol::iequals(h.name, "Sec-WebSocket-Protocol") &&
            offers_protocol(h.value, kMetaProtocol))
            accepted.meta = true;
    }
    return accepted;
}

std::string accept_key(std::string_view key) {
    std::string input(key);
    input += kGuid;
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
    // 20 bytes encode to 28 characters plus EVP_EncodeBlock's terminating NUL.
    unsigned char out[4 * ((SHA_DIGEST_LENGTH + 2) / 3) + 1];
    int n = EVP_EncodeBlock(out, digest, SHA_DIGEST_LENGTH);
    return std::string(reinterpret_cast<const char*>(out), static_cast<std::size_t>(n));
}

bool offers_protocol(std::string_view offered, std::string_view name) {
    while (!offered.empty()) {
        std::size_t comma = offered.find(',');
        std::string_view item = protocol::trim_ows(offered.substr(0, comma));
        if (item == name)  // subprotocol names are case-sensitive (RFC 6455 §4.1)
            return true;
        if (comma == std::string_view::npos)
            break;
        offered.remove_prefix(comma + 1);
    }
    return false;
}

std::string response_head(const Accepted& accepted) {
    std::string head =
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n"
        "Sec-WebSocket-Accept: ";
    head += accepted.accept;
    head += "\r\n";
    if (accepted.meta) {
        head += "Sec-WebSocket-Protocol: ";
        head += kMetaProtocol;
        head += "\r\n";
    }
    head += "\r\n";
    return head;
}

}  // namespace pushrelay::ws
