// grip/base64.cc — see base64.h. libcrypto's EVP_EncodeBlock/EVP_DecodeBlock do the work; this
// file adds the checks they lack (EVP_DecodeBlock accepts surrounding whitespace and reports
// padding as zero bytes) and the url alphabet.
#include "grip/base64.h"

#include <openssl/evp.h>

namespace pushrelay::grip {

namespace {

bool in_alphabet(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

// `text` in the standard alphabet, padding optional; nullopt unless canonical.
std::optional<std::string> decode_standard(std::string text) {
    size_t data_len = text.size();
    while (data_len > 0 && text[data_len - 1] == '=') --data_len;
    if (text.size() - data_len > 2 || data_len % 4 == 1)
        return std::nullopt;
    for (size_t i = 0; i < data_len; ++i) {
        if (!in_alphabet(text[i]))
            return std::nullopt;
    }
    text.resize(data_len);
    const size_t pad = (4 - data_len % 4) % 4;
    text.append(pad, '=');
    if (text.empty())
        return std::string();
    std::string out(text.size() / 4 * 3, '\0');
    const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(text.data()),
                                  static_cast<int>(text.size()));
    if (n < 0)
        return std::nullopt;
    out.resize(static_cast<size_t>(n) - pad);
    return out;
}

}  // namespace

std::string base64_encode(std::string_view bytes) {
    std::string out((bytes.size() + 2) / 3 * 4 + 1, '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(bytes.data()),
                                  static_cast<int>(bytes.size()));
    out.resize(static_cast<size_t>(n));
    return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
    return decode_standard(std::string(text));
}

std::string base64url_encode(std::string_view bytes) {
    std::string out = base64_encode(bytes);
    while (!out.empty() && out.back() == '=') out.pop_back();
    for (char& c : out) {
        if (c == '+')
            c = '-';
        else if (c == '/')
            c = '_';
    }
    return out;
}

std::optional<std::string> base64url_decode(std::string_view text) {
    std::string standard(text);
    for (char& c : standard) {
        if (c == '-')
            c = '+';
        else if (c == '_')
            c = '/';
        else if (c == '+' || c == '/')
            return std::nullopt;  // the standard alphabet's characters are not url-safe ones
    }
    return decode_standard(std::move(standard));
}

}  // namespace pushrelay::grip
