// grip/base64.h — base64 (RFC 4648 §4) and base64url (§5) over OpenSSL's libcrypto, for the
// binary fields of GRIP: `body-bin`, `content-bin`, `format=base64` keep-alives, `base64:` keys
// and the parts of a Grip-Sig JWT.
//
// Worker processes (and the master, for keys in the conf). Pure functions over bytes: no sockets,
// no shared memory, no conf.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace pushrelay::grip {

// Standard base64 with '=' padding.
std::string base64_encode(std::string_view bytes);

// Decodes standard base64. Missing trailing padding is accepted (GRIP publishers written for
// Qt's lenient decoder sometimes omit it); anything else that is not canonical base64 — a
// character outside the alphabet, whitespace, '=' before the end, a length of 4n+1 — is
// nullopt, so that a corrupt body is refused rather than delivered half-decoded.
std::optional<std::string> base64_decode(std::string_view text);

// base64url without padding, as JWTs use.
std::string base64url_encode(std::string_view bytes);

// Decodes base64url, with or without padding; nullopt as base64_decode().
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace pushrelay::grip
