// grip/json_fields.h — internal to grip/: reading the fields that the instruct body
// (instruction.cc) and publish items (item.cc) share — strings, status codes, headers given as an
// object or as [[name, value]] pairs, and text-or-base64 bodies — with Pushpin's error wording
// ("'http-response' contains 'code' with wrong type"), so both parsers say the same thing about
// the same fault. Not a public header: the rest of pushrelay never sees nlohmann::json.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/header.h"

namespace pushrelay::grip::json {

// ordered_json keeps an object's members in document order: a headers object reaches the client
// in the order the publisher wrote it (Pushpin's hash gives no order at all).
using Json = nlohmann::ordered_json;

// The document in `text`, or nullopt when it is not JSON (empty text included). Never throws.
std::optional<Json> parse(std::string_view text);

// The member `key` of object `obj`, or nullptr when absent. Precondition: obj.is_object().
const Json* member(const Json& obj, std::string_view key);

// "<owner> contains '<key>' with wrong type" and its siblings, Pushpin's phrasing.
std::string wrong_type(std::string_view owner, std::string_view key);
std::string invalid_value(std::string_view owner, std::string_view key);

// Reads optional string member `key` into `out` (left unset when absent). A member of another
// type (null included) sets `error` and returns false.
bool optional_string(const Json& obj, std::string_view owner, std::string_view key,
                     std::optional<std::string>& out, std::string& error);

// An integer in [lo, hi] given as a JSON integer, an integral float or a numeric string (Pushpin
// converts all three). nullopt for anything else.
std::optional<long long> integer(const Json& v, long long lo, long long hi);

// Headers as {"N": "V", ...} or [["N", "V"], ...], appended to `out` in document order. Names
// must be HTTP tokens and values free of CR, LF and NUL (they go on the wire as they are).
bool headers(const Json& v, std::string_view owner, std::vector<protocol::Header>& out,
             std::string& error);

// Which of a text member and its base64 sibling an object carries.
enum class Payload { Absent, Found, Error };

// Reads `bin_key` (base64, preferred as Pushpin prefers it) or else `text_key` into `out`.
Payload text_or_bin(const Json& obj, std::string_view owner, std::string_view text_key,
                    std::string_view bin_key, std::string& out, std::string& error);

}  // namespace pushrelay::grip::json
