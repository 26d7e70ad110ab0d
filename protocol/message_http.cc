#include "protocol/message_http.h"

#include <algorithm>
#include <array>
#include <optional>

namespace pushrelay::protocol {

bool is_message_http(std::string_view content_type) {
    return iequals(trim_ows(content_type.substr(0, content_type.find(';'))), "message/http");
}

namespace {

// Headers that describe the relay's own connection to the subscriber or that ResponseHead
// writes itself: copying the publisher's would duplicate or contradict them.
constexpr std::array<std::string_view, 6> kRelayOwnedHeaders = {
    "Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive", "Server", "Date"};

bool is_relay_owned(std::string_view name) {
    return std::ranges::any_of(kRelayOwnedHeaders,
                               [name](std::string_view owned) { return iequals(name, owned); });
}

// Control characters other than HTAB may not appear in a reason phrase or a field value.
bool has_control_char(std::string_view s) {
    return std::ranges::any_of(s, [](char c) {
        auto u = static_cast<unsigned char>(c);
        return (u < 0x20 && c != '\t') || u == 0x7f;
    });
}

// Splits the head into lines ending in CRLF or LF; what is left after the empty line is the body.
class LineReader {
  public:
    explicit LineReader(std::string_view text) : rest_(text) {}

    // The next line without its line end, or nullopt when no line end is left.
    std::optional<std::string_view> next() {
        size_t lf = rest_.find('\n');
        if (lf == std::string_view::npos) {
            return std::nullopt;
        }
        std::string_view line = rest_.substr(0, lf);
        rest_.remove_prefix(lf + 1);
        if (line.ends_with('\r')) {
            line.remove_suffix(1);
        }
        return line;
    }

    std::string_view rest() const { return rest_; }

  private:
    std::string_view rest_;
};

// "HTTP/1.1 200 OK" → status and reason, or an error.
std::optional<std::string> parse_status_line(std::string_view line, HttpMessage& msg) {
    if (!(line.starts_with("HTTP/1.0 ") || line.starts_with("HTTP/1.1 "))) {
        return "message/http: the body does not start with an HTTP/1.x status line";
    }
    std::string_view rest = line.substr(9);
    bool three_digits = rest.size() >= 3 && std::all_of(rest.begin(), rest.begin() + 3, [](char c) {
                            return c >= '0' && c <= '9';
                        });
    if (!three_digits || (rest.size() > 3 && rest[3] != ' ')) {
        return "message/http: the status code is not three digits";
    }
    msg.status = (rest[0] - '0') * 100 + (rest[1] - '0') * 10 + (rest[2] - '0');
    if (msg.status < 200 || msg.status > 599) {
        return "message/http: the status must be between 200 and 599";
    }
    std::string_view reason = rest.size() > 3 ? rest.substr(4) : std::string_view{};
    if (has_control_char(reason)) {
        return "message/http: control character in the reason phrase";
    }
    msg.reason = reason;
    return std::nullopt;
}

// "Name: value" appended to msg.headers (unless the relay owns that header), or an error.
std::optional<std::string> parse_header_line(std::string_view line, HttpMessage& msg) {
    if (line.front() == ' ' || line.front() == '\t') {
        return "message/http: obsolete header line folding";
    }
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
        return "message/http: header line without ':'";
    }
    std::string_view name = line.substr(0, colon);
    if (!is_token(name)) {
        return "message/http: bad header name";
    }
    std::string_view value = trim_ows(line.substr(colon + 1));
    if (has_control_char(value)) {
        return "message/http: control character in a header value";
    }
    if (!is_relay_owned(name)) {
        msg.headers.push_back(Header{std::string(name), std::string(value)});
    }
    return std::nullopt;
}

}  // namespace

std::variant<HttpMessage, std::string> parse_message_http(std::string_view text) {
    HttpMessage msg{};
    LineReader lines(text);
    std::optional<std::string_view> line = lines.next();
    if (!line) {
        return std::string("message/http: no line end after the status line");
    }
    if (auto err = parse_status_line(*line, msg)) {
        return std::move(*err);
    }
    while ((line = lines.next()) && !line->empty()) {
        if (auto err = parse_header_line(*line, msg)) {
            return std::move(*err);
        }
    }
    if (!line) {
        return std::string("message/http: no empty line after the headers");
    }
    msg.body = lines.rest();
    if ((msg.status == 204 || msg.status == 304) && !msg.body.empty()) {
        return std::string("message/http: a 204 or 304 response cannot have a body");
    }
    return msg;
}

}  // namespace pushrelay::protocol
