// grip/sig.h — Grip-Sig, the HS256 JWT that tells an origin a request came through its GRIP
// proxy (grip.md "Proxying"): the keys as the conf writes them, making tokens (with the reuse
// rule), and validating a token from an upstream GRIP proxy ("trusted" requests).
//
// Run by the workers; the master may call parse_key() to check the conf. Pure functions over
// bytes and a clock value the caller passes: no sockets, no conf, no clock reads.
// Thread safety: SigCache is per worker (one thread); the free functions are reentrant.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pushrelay::grip {

// A key as written in the conf (push_grip_sig_key, push_grip_upstream_key): the text itself,
// or "base64:B64" for binary keys. nullopt when the base64 is invalid.
std::optional<std::string> parse_key(std::string_view conf_value);

// base64url({"alg":"HS256","typ":"JWT"}) "." base64url({"iss":ISS,"exp":EXP}) "."
// base64url(HMAC-SHA256(key, the first two parts)), no padding; EXP = now + 3600.
// `now` is Unix seconds.
std::string make_sig(std::string_view iss, std::string_view key, int64_t now);

// True when `token` is an HS256 JWT signed with `key` whose `exp` is a number later than `now`.
// `iss` is not checked (grip.md). The signature is compared in constant time.
bool validate_sig(std::string_view token, std::string_view key, int64_t now);

// One location's Grip-Sig, remade only when the last one expires within 59 minutes: at most one
// HMAC a minute per location, whatever the request rate.
class SigCache {
  public:
    SigCache(std::string iss, std::string key) : iss_(std::move(iss)), key_(std::move(key)) {}

    // The token to send at Unix time `now`. The reference lives until the next call.
    const std::string& token(int64_t now);

  private:
    std::string iss_;
    std::string key_;
    std::string token_;
    int64_t exp_ = 0;  // of token_; 0 = none yet
};

}  // namespace pushrelay::grip
