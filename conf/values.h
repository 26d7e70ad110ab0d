// Scalar value syntax of the conf language: sizes, times, counts, flags, paths.
//
// Owned by conf/ and used only while loading a conf (master process). Pure functions: no I/O,
// no state. They say whether a text is valid; the directive handlers word the error.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pushrelay::conf {

using Millis = std::chrono::milliseconds;

// A value or the words saying why there is none (for parses whose failure has several causes).
template <class T>
struct Parsed {
    std::optional<T> value;
    std::string error;  // set exactly when value is empty
};

// "512", "16k", "1M", "2g": bytes, with k/m/g meaning 1024-multiples. Empty on junk, a sign or
// overflow of 64 bits.
std::optional<uint64_t> parse_size(std::string_view text);

// "30" (seconds), "500ms", "2h", "1h30m": a sum of number+unit terms with units ms s m h d w in
// decreasing order, each at most once; a bare number is seconds. Empty on junk or overflow.
std::optional<Millis> parse_time(std::string_view text);

// A decimal number from 0 to 4294967295, digits only.
std::optional<uint32_t> parse_count(std::string_view text);

// "on" → true, "off" → false.
std::optional<bool> parse_flag(std::string_view text);

// path if it is absolute (or base is empty), else base/path.
std::string resolve_path(std::string_view base, std::string_view path);

}  // namespace pushrelay::conf
