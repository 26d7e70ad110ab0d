// grip/json_fields.cc — see json_fields.h.
#include "grip/json_fields.h"

#include <charconv>
#include <cmath>

#include "grip/base64.h"

namespace pushrelay::grip::json {

std::optional<Json> parse(std::string_view text) {
    // allow_exceptions=false: a parse error gives a discarded value instead of a throw.
    Json doc = Json::parse(text.begin(), text.end(), nullptr, false);
    if (doc.is_discarded())
        return std::nullopt;
    return doc;
}

const Json* member(const Json& obj, std::string_view key) {
    auto it = obj.find(std::string(key));
    return it == obj.end() ? nullptr : &*it;
}

std::string wrong_type(std::string_view owner, std::string_view key) {
    return std::string(owner) + " contains '" + std::string(key) + "' with wrong type";
}

std::string invalid_value(std::string_view owner, std::string_view key) {
    return std::string(owner) + " contains '" + std::string(key) + "' with invalid value";
}

bool optional_string(const Json& obj, std::string_view owner, std::string_view key,
                     std::optional<std::string>& out, std::string& error) {
    const Json* v = member(obj, key);
    if (!v)
        return true;
    if (!v->is_string()) {
        error = wrong_type(owner, key);
        return false;
    }
    out = v->get<std::string>();
    return true;
}

std::optional<long long> integer(const Json& v, long long lo, long long hi) {
    long long n = 0;
    if (v.is_number_integer()) {
        if (v.is_number_unsigned() &&
            v.get<unsigned long long>() > static_cast<unsigned long long>(hi))
            return std::nullopt;
        n = v.get<long long>();
    } else if (v.is_number_float()) {
        const double d = v.get<double>();
        if (!(d >= static_cast<double>(lo) && d <= static_cast<double>(hi)) || d != std::floor(d))
            return std::nullopt;
        n = static_cast<long long>(d);
    } else if (v.is_string()) {
        const std::string& s = v.get_ref<const std::string&>();
        const char* end = s.data() + s.size();
        auto [p, ec] = std::from_chars(s.data(), end, n);
        if (ec != std::errc() || p != end || s.empty())
            return std::nullopt;
    } else {
        return std::nullopt;
    }
    if (n < lo || n > hi)
        return std::nullopt;
    return n;
}

namespace {

bool wire_safe(std::string_view value) {
    return value.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

bool add_header(std::string name, std::string value, std::vector<protocol::Header>& out,
                std::string& error) {
    if (!protocol::is_token(name) || !wire_safe(value)) {
        error = "headers contains '" + name + "' with invalid value";
        return false;
    }
    out.push_back({std::move(name), std::move(value)});
    return true;
}

}  // namespace

bool headers(const Json& v, std::string_view owner, std::vector<protocol::Header>& out,
             std::string& error) {
    if (v.is_array()) {
        for (const Json& pair : v) {
            if (!pair.is_array()) {
                error = "headers contains element with wrong type";
                return false;
            }
            if (pair.size() != 2) {
                error = "headers contains list with wrong number of elements";
                return false;
            }
            if (!pair[0].is_string()) {
                error = "header contains name element with wrong type";
                return false;
            }
            if (!pair[1].is_string()) {
                error = "header contains value element with wrong type";
                return false;
            }
            if (!add_header(pair[0].get<std::string>(), pair[1].get<std::string>(), out, error))
                return false;
        }
        return true;
    }
    if (v.is_object()) {
        for (auto it = v.begin(); it != v.end(); ++it) {
            if (!it.value().is_string()) {
                error = "headers contains '" + it.key() + "' with wrong type";
                return false;
            }
            if (!add_header(it.key(), it.value().get<std::string>(), out, error))
                return false;
        }
        return true;
    }
    error = wrong_type(owner, "headers");
    return false;
}

Payload text_or_bin(const Json& obj, std::string_view owner, std::string_view text_key,
                    std::string_view bin_key, std::string& out, std::string& error) {
    if (const Json* bin = member(obj, bin_key)) {
        if (!bin->is_string()) {
            error = wrong_type(owner, bin_key);
            return Payload::Error;
        }
        std::optional<std::string> bytes = base64_decode(bin->get_ref<const std::string&>());
        if (!bytes) {
            error = invalid_value(owner, bin_key);
            return Payload::Error;
        }
        out = std::move(*bytes);
        return Payload::Found;
    }
    if (const Json* text = member(obj, text_key)) {
        if (!text->is_string()) {
            error = wrong_type(owner, text_key);
            return Payload::Error;
        }
        out = text->get<std::string>();
        return Payload::Found;
    }
    return Payload::Absent;
}

}  // namespace pushrelay::grip::json
