#include "protocol/response.h"

#include <array>
#include <charconv>

namespace pushrelay::protocol {

namespace {

constexpr std::array<std::string_view, 7> kShortDays = {"Sun", "Mon", "Tue", "Wed",
                                                        "Thu", "Fri", "Sat"};
constexpr std::array<std::string_view, 7> kLongDays = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                                       "Thursday", "Friday", "Saturday"};
constexpr std::array<std::string_view, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

void append_number(std::string& out, uint64_t n) {
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, n);
    out.append(buf, end);
}

void append_two_digits(std::string& out, int n) {
    out.push_back(static_cast<char>('0' + n / 10));
    out.push_back(static_cast<char>('0' + n % 10));
}

// The Date header changes once a second and a worker finishes many heads per second: format it
// once per second. Thread-local because a worker is one thread and tests may run several.
const std::string& current_http_date() {
    thread_local time_t cached_second = -1;
    thread_local std::string cached_text;
    time_t now = time(nullptr);
    if (now != cached_second) {
        cached_text = http_date(now);
        cached_second = now;
    }
    return cached_text;
}

bool has_no_body(int status) {
    return status < 200 || status == 204 || status == 304;
}

// A cursor over an HTTP-date; every method consumes only on success.
class DateScanner {
  public:
    explicit DateScanner(std::string_view text) : rest_(text) {}

    bool literal(std::string_view lit) {
        if (!rest_.starts_with(lit)) {
            return false;
        }
        rest_.remove_prefix(lit.size());
        return true;
    }

    // Exactly `count` decimal digits.
    std::optional<int> digits(size_t count) {
        if (rest_.size() < count) {
            return std::nullopt;
        }
        int value = 0;
        for (size_t i = 0; i < count; ++i) {
            if (rest_[i] < '0' || rest_[i] > '9') {
                return std::nullopt;
            }
            value = value * 10 + (rest_[i] - '0');
        }
        rest_.remove_prefix(count);
        return value;
    }

    // One of `names`; returns its index.
    template <size_t N>
    std::optional<int> name(const std::array<std::string_view, N>& names) {
        for (size_t i = 0; i < N; ++i) {
            if (literal(names[i])) {
                return static_cast<int>(i);
            }
        }
        return std::nullopt;
    }

    // "HH:MM:SS" into `tm`.
    bool clock(std::tm& tm) {
        auto h = digits(2);
        auto m = h && literal(":") ? digits(2) : std::nullopt;
        auto s = m && literal(":") ? digits(2) : std::nullopt;
        if (!s) {
            return false;
        }
        tm.tm_hour = *h;
        tm.tm_min = *m;
        tm.tm_sec = *s;
        return true;
    }

    bool at_end() const { return rest_.empty(); }
    char peek() const { return rest_.empty() ? '\0' : rest_.front(); }

  private:
    std::string_view rest_;
};

// "Sun, 06 Nov 1994 08:49:37 GMT"
bool scan_imf_fixdate(DateScanner& in, std::tm& tm) {
    if (!in.name(kShortDays) || !in.literal(", ")) {
        return false;
    }
    auto day = in.digits(2);
    auto month = day && in.literal(" ") ? in.name(kMonths) : std::nullopt;
    auto year = month && in.literal(" ") ? in.digits(4) : std::nullopt;
    if (!year || !in.literal(" ") || !in.clock(tm) || !in.literal(" GMT")) {
        return false;
    }
    tm.tm_mday = *day;
    tm.tm_mon = *month;
    tm.tm_year = *year - 1900;
    return true;
}

// "Sunday, 06-Nov-94 08:49:37 GMT"
bool scan_rfc850_date(DateScanner& in, std::tm& tm) {
    if (!in.name(kLongDays) || !in.literal(", ")) {
        return false;
    }
    auto day = in.digits(2);
    auto month = day && in.literal("-") ? in.name(kMonths) : std::nullopt;
    auto year = month && in.literal("-") ? in.digits(2) : std::nullopt;
    if (!year || !in.literal(" ") || !in.clock(tm) || !in.literal(" GMT")) {
        return false;
    }
    tm.tm_mday = *day;
    tm.tm_mon = *month;
    tm.tm_year = *year < 70 ? *year + 100 : *year;
    return true;
}

// "Sun Nov  6 08:49:37 1994"
bool scan_asctime_date(DateScanner& in, std::tm& tm) {
    if (!in.name(kShortDays) || !in.literal(" ")) {
        return false;
    }
    auto month = in.name(kMonths);
    if (!month || !in.literal(" ")) {
        return false;
    }
    auto day = in.literal(" ") ? in.digits(1) : in.digits(2);
    auto year =
        day && in.literal(" ") && in.clock(tm) && in.literal(" ") ? in.digits(4) : std::nullopt;
    if (!year) {
        return false;
    }
    tm.tm_mday = *day;
    tm.tm_mon = *month;
    tm.tm_year = *year - 1900;
    return true;
}

bool scan_any_date(std::string_view text, std::tm& tm) {
    // The three forms differ in what follows the weekday: ", " + day for IMF, a long weekday
    // name for RFC 850, a space for asctime.
    for (auto scan : {scan_imf_fixdate, scan_rfc850_date, scan_asctime_date}) {
        DateScanner in(text);
        if (scan(in, tm) && in.at_end()) {
            return true;
        }
    }
    return false;
}

}  // namespace

std::string_view reason_phrase(int status) {
    switch (status) {
        case 100:
            return "Continue";
        case 200:
            return "OK";
        case 201:
            return "Created";
        case 202:
            return "Accepted";
        case 204:
            return "No Content";
        case 304:
            return "Not Modified";
        case 400:
            return "Bad Request";
        case 403:
            return "Forbidden";
        case 404:
            return "Not Found";
        case 405:
            return "Method Not Allowed";
        case 408:
            return "Request Time-out";
        case 409:
            return "Conflict";
        case 410:
            return "Gone";
        case 413:
            return "Request Entity Too Large";
        case 414:
            return "Request-URI Too Large";
        case 431:
            return "Request Header Fields Too Large";
        case 500:
            return "Internal Server Error";
        case 501:
            return "Not Implemented";
        case 503:
            return "Service Unavailable";
        case 505:
            return "HTTP Version Not Supported";
        case 507:
            return "Insufficient Storage";
        // The rest of the IANA registry (RFC 9110 §15 and extensions): GRIP's Grip-Status and
        // published codes default to the standard phrase, and the proxy answers 502.
        case 101:
            return "Switching Protocols";
        case 102:
            return "Processing";
        case 103:
            return "Early Hints";
        case 203:
            return "Non-Authoritative Information";
        case 205:
            return "Reset Content";
        case 206:
            return "Partial Content";
        case 207:
            return "Multi-Status";
        case 208:
            return "Already Reported";
        case 226:
            return "IM Used";
        case 300:
            return "Multiple Choices";
        case 301:
            return "Moved Permanently";
        case 302:
            return "Found";
        case 303:
            return "See Other";
        case 305:
            return "Use Proxy";
        case 307:
            return "Temporary Redirect";
        case 308:
            return "Permanent Redirect";
        case 401:
            return "Unauthorized";
        case 402:
            return "Payment Required";
        case 406:
            return "Not Acceptable";
        case 407:
            return "Proxy Authentication Required";
        case 411:
            return "Length Required";
        case 412:
            return "Precondition Failed";
        case 415:
            return "Unsupported Media Type";
        case 416:
            return "Range Not Satisfiable";
        case 417:
            return "Expectation Failed";
        case 421:
            return "Misdirected Request";
        case 422:
            return "Unprocessable Content";
        case 423:
            return "Locked";
        case 424:
            return "Failed Dependency";
        case 425:
            return "Too Early";
        case 426:
            return "Upgrade Required";
        case 428:
            return "Precondition Required";
        case 429:
            return "Too Many Requests";
        case 451:
            return "Unavailable For Legal Reasons";
        case 502:
            return "Bad Gateway";
        case 504:
            return "Gateway Timeout";
        case 506:
            return "Variant Also Negotiates";
        case 508:
            return "Loop Detected";
        case 510:
            return "Not Extended";
        case 511:
            return "Network Authentication Required";
        default:
            return {};
    }
}

ResponseHead::ResponseHead(int status, int http_minor)
    : ResponseHead(status, reason_phrase(status), http_minor) {}

ResponseHead::ResponseHead(int status, std::string_view reason, int http_minor) : status_(status) {
    head_.reserve(256);
    head_.append(http_minor == 0 ? "HTTP/1.0 " : "HTTP/1.1 ");
    append_number(head_, static_cast<uint64_t>(status));
    head_.push_back(' ');
    head_.append(reason);
    head_.append("\r\n");
}

void ResponseHead::add(std::string_view name, std::string_view value) {
    head_.append(name);
    head_.append(": ");
    head_.append(value);
    head_.append("\r\n");
}

std::string ResponseHead::finish(uint64_t content_length, bool keep_alive) const {
    return finish(has_no_body(status_) ? std::nullopt : std::optional(content_length), keep_alive);
}

std::string ResponseHead::finish(std::optional<uint64_t> content_length, bool keep_alive) const {
    std::string out;
    out.reserve(head_.size() + 128);
    out.append(head_);
    out.append("Server: pushrelay\r\nDate: ");
    out.append(current_http_date());
    out.append("\r\n");
    if (content_length) {
        out.append("Content-Length: ");
        append_number(out, *content_length);
        out.append("\r\n");
    }
    out.append(keep_alive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n");
    return out;
}

std::string http_date(time_t t) {
    std::tm tm{};
    gmtime_r(&t, &tm);
    std::string out;
    out.reserve(29);
    out.append(kShortDays[static_cast<size_t>(tm.tm_wday)]);
    out.append(", ");
    append_two_digits(out, tm.tm_mday);
    out.push_back(' ');
    out.append(kMonths[static_cast<size_t>(tm.tm_mon)]);
    out.push_back(' ');
    append_number(out, static_cast<uint64_t>(tm.tm_year + 1900));
    out.push_back(' ');
    append_two_digits(out, tm.tm_hour);
    out.push_back(':');
    append_two_digits(out, tm.tm_min);
    out.push_back(':');
    append_two_digits(out, tm.tm_sec);
    out.append(" GMT");
    return out;
}

std::optional<time_t> parse_http_date(std::string_view text) {
    std::tm tm{};
    if (!scan_any_date(text, tm)) {
        return std::nullopt;
    }
    if (tm.tm_year < 70 || tm.tm_mday < 1 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 59) {
        return std::nullopt;
    }
    const int wanted_mday = tm.tm_mday;
    time_t t = timegm(&tm);
    // timegm normalises "31 Feb" into March: a changed day of month means no such date.
    if (t == static_cast<time_t>(-1) || tm.tm_mday != wanted_mday) {
        return std::nullopt;
    }
    return t;
}

std::string error_body(int status, std::string_view reason) {
    std::string out;
    append_number(out, static_cast<uint64_t>(status));
    out.push_back(' ');
    out.append(reason_phrase(status));
    if (!reason.empty()) {
        out.append(": ");
        out.append(reason);
    }
    out.push_back('\n');
    return out;
}

}  // namespace pushrelay::protocol
