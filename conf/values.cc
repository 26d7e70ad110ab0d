#include "conf/values.h"

#include <algorithm>
#include <array>
#include <limits>

namespace pushrelay::conf {
namespace {

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

// Reads the run of digits at text[*pos] into *out; false if there is none or it overflows.
bool read_digits(std::string_view text, size_t* pos, uint64_t* out) {
    size_t start = *pos;
    uint64_t n = 0;
    for (; *pos < text.size() && is_digit(text[*pos]); ++*pos) {
        if (__builtin_mul_overflow(n, 10, &n) ||
            __builtin_add_overflow(n, static_cast<uint64_t>(text[*pos] - '0'), &n)) {
            return false;
        }
    }
    *out = n;
    return *pos > start;
}

struct TimeUnit {
    std::string_view suffix;
    int64_t millis;
};

// Largest first: the order terms must appear in ("1h30m", not "30m1h").
constexpr std::array<TimeUnit, 6> kTimeUnits{{
    {"w", 7 * 24 * 3600 * 1000LL},
    {"d", 24 * 3600 * 1000LL},
    {"h", 3600 * 1000LL},
    {"m", 60 * 1000LL},
    {"s", 1000},
    {"ms", 1},
}};

constexpr size_t kSecondsUnit = 4;
static_assert(kTimeUnits[kSecondsUnit].suffix == "s", "a bare number counts seconds");

// The unit at the start of rest, among kTimeUnits[first..]; the longest suffix wins so that
// "ms" is not read as "m" followed by junk. kTimeUnits.size() if none.
size_t find_time_unit(std::string_view rest, size_t first) {
    size_t found = kTimeUnits.size();
    for (size_t u = first; u < kTimeUnits.size(); ++u) {
        if (rest.starts_with(kTimeUnits[u].suffix) &&
            (found == kTimeUnits.size() ||
             kTimeUnits[u].suffix.size() > kTimeUnits[found].suffix.size())) {
            found = u;
        }
    }
    return found;
}

}  // namespace

std::optional<uint64_t> parse_size(std::string_view text) {
    size_t pos = 0;
    uint64_t n = 0;
    if (!read_digits(text, &pos, &n)) {
        return std::nullopt;
    }
    std::string_view suffix = text.substr(pos);
    unsigned shift = 0;
    if (suffix == "k" || suffix == "K") {
        shift = 10;
    } else if (suffix == "m" || suffix == "M") {
        shift = 20;
    } else if (suffix == "g" || suffix == "G") {
        shift = 30;
    } else if (!suffix.empty()) {
        return std::nullopt;
    }
    if (n > (std::numeric_limits<uint64_t>::max() >> shift)) {
        return std::nullopt;
    }
    return n << shift;
}

std::optional<Millis> parse_time(std::string_view text) {
    size_t pos = 0;
    int64_t total = 0;
    size_t next_unit = 0;  // units before this index were used already or are larger
    do {
        uint64_t n = 0;
        if (!read_digits(text, &pos, &n) || n > uint64_t(std::numeric_limits<int64_t>::max())) {
            return std::nullopt;
        }
        // A bare number (or a bare last term, "1m30") counts seconds.
        size_t u = pos == text.size() ? kSecondsUnit : find_time_unit(text.substr(pos), next_unit);
        if (u < next_unit || u == kTimeUnits.size()) {
            return std::nullopt;
        }
        pos = std::min(text.size(), pos + kTimeUnits[u].suffix.size());
        next_unit = u + 1;
        int64_t term = 0;
        if (__builtin_mul_overflow(static_cast<int64_t>(n), kTimeUnits[u].millis, &term) ||
            __builtin_add_overflow(total, term, &total)) {
            return std::nullopt;
        }
    } while (pos < text.size());
    return Millis(total);
}

std::optional<uint32_t> parse_count(std::string_view text) {
    size_t pos = 0;
    uint64_t n = 0;
    if (!read_digits(text, &pos, &n) || pos != text.size() ||
        n > std::numeric_limits<uint32_t>::max()) {
        return std::nullopt;
    }
    return static_cast<uint32_t>(n);
}

std::optional<bool> parse_flag(std::string_view text) {
    if (text == "on") {
        return true;
    }
    if (text == "off") {
        return false;
    }
    return std::nullopt;
}

std::string resolve_path(std::string_view base, std::string_view path) {
    if (base.empty() || path.starts_with('/')) {
        return std::string(path);
    }
    std::string joined(base);
    if (!joined.ends_with('/')) {
        joined += '/';
    }
    return joined.append(path);
}

}  // namespace pushrelay::conf
