// grip/sig.cc — see sig.h.
#include "grip/sig.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "grip/base64.h"
#include "grip/json_fields.h"

namespace pushrelay::grip {

namespace {

constexpr int64_t kLifetime = 3600;
constexpr int64_t kReuseWhileAhead = 59 * 60;

// The one header this proxy writes, and the only algorithm it accepts.
constexpr std::string_view kHeader = R"({"alg":"HS256","typ":"JWT"})";

std::string hmac_sha256(std::string_view key, std::string_view data) {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    // A zero-length key is valid HMAC; HMAC() wants a non-null pointer for it.
    static const unsigned char empty = 0;
    const void* k = key.empty() ? static_cast<const void*>(&empty) : key.data();
    HMAC(EVP_sha256(), k, static_cast<int>(key.size()),
         reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
    return std::string(reinterpret_cast<const char*>(out), len);
}

}  // namespace

std::optional<std::string> parse_key(std::string_view conf_value) {
    constexpr std::string_view prefix = "base64:";
    if (!conf_value.starts_with(prefix))
        return std::string(conf_value);
    return base64_decode(conf_value.substr(prefix.size()));
}

std::string make_sig(std::string_view iss, std::string_view key, int64_t now) {
    // ordered_json: "iss" before "exp", as Pushpin writes them. `replace` so that an iss that
    // is not UTF-8 cannot throw.
    json::Json claims = json::Json::object();
    claims["iss"] = std::string(iss);
    claims["exp"] = now + kLifetime;
    std::string token = base64url_encode(kHeader);
    token.push_back('.');
    token.append(
        base64url_encode(claims.dump(-1, ' ', false, json::Json::error_handler_t::replace)));
    const std::string mac = hmac_sha256(key, token);
    token.push_back('.');
    token.append(base64url_encode(mac));
    return token;
}

bool validate_sig(std::string_view token, std::string_view key, int64_t now) {
    const size_t dot1 = token.find('.');
    const size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
    if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos)
        return false;
    std::optional<std::string> header = base64url_decode(token.substr(0, dot1));
    std::optional<std::string> claims = base64url_decode(token.substr(dot1 + 1, dot2 - dot1 - 1));
    std::optional<std::string> mac = base64url_decode(token.substr(dot2 + 1));
    if (!header || !claims || !mac)
        return false;
    const std::string expected = hmac_sha256(key, token.substr(0, dot2));
    if (mac->size() != expected.size() ||
        CRYPTO_memcmp(mac->data(), expected.data(), expected.size()) != 0) {
        return false;
    }
    std::optional<json::Json> h = json::parse(*header);
    if (!h || !h->is_object())
        return false;
    const json::Json* alg = json::member(*h, "alg");
    if (!alg || *alg != "HS256")
        return false;
    std::optional<json::Json> c = json::parse(*claims);
    if (!c || !c->is_object())
        return false;
    const json::Json* exp = json::member(*c, "exp");
    return exp && exp->is_number() && exp->get<double>() > static_cast<double>(now);
}

const std::string& SigCache::token(int64_t now) {
    if (exp_ == 0 || exp_ - now < kReuseWhileAhead) {
        token_ = make_sig(iss_, key_, now);
        exp_ = now + kLifetime;
    }
    return token_;
}

}  // namespace pushrelay::grip
