// grip/instruction.cc — see instruction.h. The header values follow the parameter syntax of
// RFC 9110 §5.6.6 (`value; name=value; name="quoted"`), with lists split at commas outside
// quotes and outside `<…>` (a next link's URI may hold both).
#include "grip/instruction.h"

#include <algorithm>
#include <charconv>
#include <utility>

#include "grip/base64.h"
#include "grip/json_fields.h"
#include "protocol/response.h"

namespace pushrelay::grip {

namespace {

using protocol::Header;
using protocol::iequals;
using protocol::trim_ows;

struct Param {
    std::string name;
    std::string value;
};

// One list element: its leading value and its parameters.
struct Element {
    std::string value;
    std::vector<Param> params;

    const std::string* param(std::string_view name) const {
        for (const Param& p : params) {
            if (iequals(p.name, name))
                return &p.value;
        }
        return nullptr;
    }
};

// `s` split at `sep` where it is outside double quotes and outside <…>.
std::vector<std::string_view> split_outside_quotes(std::string_view s, char sep) {
    std::vector<std::string_view> parts;
    bool quoted = false, angled = false;
    size_t start = 0;
    for (size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        if (quoted) {
            if (c == '\\')
                ++i;
            else if (c == '"')
                quoted = false;
        } else if (c == '"' && !angled) {
            quoted = true;
        } else if (c == '<') {
            angled = true;
        } else if (c == '>') {
            angled = false;
        } else if (c == sep && !angled) {
            parts.push_back(s.substr(start, i - start));
            start = i + 1;
        }
    }
    parts.push_back(s.substr(start));
    return parts;
}

// A token or quoted-string, trimmed; quotes removed and backslash escapes undone. nullopt for an
// unterminated quote.
std::optional<std::string> unquote(std::string_view s) {
    s = trim_ows(s);
    if (s.empty() || s.front() != '"')
        return std::string(s);
    std::string out;
    for (size_t i = 1; i < s.size(); ++i) {
        if (s[i] == '\\' && i + 1 < s.size()) {
            out.push_back(s[++i]);
        } else if (s[i] == '"') {
            if (i + 1 != s.size())
                return std::nullopt;
            return out;
        } else {
            out.push_back(s[i]);
        }
    }
    return std::nullopt;
}

std::optional<Element> parse_element(std::string_view text) {
    std::vector<std::string_view> parts = split_outside_quotes(text, ';');
    Element e;
    std::optional<std::string> value = unquote(parts[0]);
    if (!value)
        return std::nullopt;
    e.value = std::move(*value);
    for (size_t i = 1; i < parts.size(); ++i) {
        std::string_view p = trim_ows(parts[i]);
        if (p.empty())
            continue;
        const size_t eq = p.find('=');
        Param param{std::string(trim_ows(p.substr(0, eq))), {}};
        if (eq != std::string_view::npos) {
            std::optional<std::string> v = unquote(p.substr(eq + 1));
            if (!v)
                return std::nullopt;
            param.value = std::move(*v);
        }
        e.params.push_back(std::move(param));
    }
    return e;
}

// Digits only (no sign, no space) up to `max`.
std::optional<int64_t> parse_count(std::string_view s, int64_t max) {
    int64_t n = 0;
    if (s.empty() || !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return std::nullopt;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (ec != std::errc() || p != s.data() + s.size() || n > max)
        return std::nullopt;
    return n;
}

constexpr int64_t kMaxSeconds = 365LL * 24 * 3600;  // keeps timers far from overflow

// A keep-alive mode name, header or instruct form alike.
std::optional<KeepAliveMode> keep_alive_mode(std::string_view name) {
    if (name == "idle")
        return KeepAliveMode::Idle;
    if (name == "interval")
        return KeepAliveMode::Interval;
    return std::nullopt;
}

// Grip-Keep-Alive's format=cstring: \\ \r \n \t \xHH; any other escape is an error. \t is
// beyond Pushpin's set (it drops the escape) because @fanoutio/grip's encoder writes it for a tab.
std::optional<std::string> unescape_cstring(std::string_view s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '\\') {
            out.push_back(s[i]);
            continue;
        }
        if (++i == s.size())
            return std::nullopt;
        switch (s[i]) {
            case '\\':
                out.push_back('\\');
                break;
            case 'r':
                out.push_back('\r');
                break;
            case 'n':
                out.push_back('\n');
                break;
            case 't':
                out.push_back('\t');
                break;
            case 'x': {
                // Exactly two hex digits: from_chars takes no sign or prefix for an unsigned.
                unsigned char byte = 0;
                const char* first = s.data() + i + 1;
                if (i + 2 >= s.size() ||
                    std::from_chars(first, first + 2, byte, 16).ptr != first + 2) {
                    return std::nullopt;
                }
                out.push_back(static_cast<char>(byte));
                i += 2;
                break;
            }
            default:
                return std::nullopt;
        }
    }
    return out;
}

// Adds a channel, merging a repeated name into its first occurrence (a later prev-id wins).
std::optional<InstructionError> add_channel(Instruction& in, std::string name,
                                            std::optional<std::string> prev_id,
                                            const Limits& limits) {
    if (name.empty())
        return "empty channel name";
    if (name.size() > limits.max_channel_id_length)
        return "channel name longer than push_max_channel_id_length";
    for (HoldChannel& c : in.channels) {
        if (c.name == name) {
            if (prev_id)
                c.prev_id = std::move(prev_id);
            return std::nullopt;
        }
    }
    if (in.channels.size() >= limits.max_channels) {
        ++in.channels_ignored;
        return std::nullopt;
    }
    in.channels.push_back({std::move(name), std::move(prev_id)});
    return std::nullopt;
}

std::optional<InstructionError> parse_hold(std::string_view v, Instruction& in) {
    v = trim_ows(v);
    if (v == "response")
        in.mode = HoldMode::Response;
    else if (v == "stream")
        in.mode = HoldMode::Stream;
    else
        return "Grip-Hold is neither response nor stream";
    return std::nullopt;
}

std::optional<InstructionError> parse_channels(std::string_view v, Instruction& in,
                                               const Limits& limits) {
    for (std::string_view part : split_outside_quotes(v, ',')) {
        std::optional<Element> e = parse_element(part);
        if (!e)
            return "malformed Grip-Channel";
        std::optional<std::string> prev_id;
        if (const std::string* p = e->param("prev-id"))
            prev_id = *p;
        // `filter=` is later: ignored, and not announced in Grip-Feature.
        if (auto error = add_channel(in, std::move(e->value), std::move(prev_id), limits))
            return error;
    }
    return std::nullopt;
}

std::optional<InstructionError> parse_timeout(std::string_view v, Instruction& in) {
    std::optional<int64_t> n = parse_count(trim_ows(v), kMaxSeconds);
    if (!n)
        return "Grip-Timeout is not a non-negative integer";
    in.timeout = *n;
    return std::nullopt;
}

std::optional<InstructionError> parse_keep_alive(std::string_view v, Instruction& in) {
    std::optional<Element> e = parse_element(v);
    if (!e)
        return "malformed Grip-Keep-Alive";
    KeepAlive ka;
    const std::string* format = e->param("format");
    if (!format || *format == "raw") {
        ka.data = std::move(e->value);
    } else if (*format == "cstring") {
        std::optional<std::string> data = unescape_cstring(e->value);
        if (!data)
            return "Grip-Keep-Alive cstring data has an invalid escape";
        ka.data = std::move(*data);
    } else if (*format == "base64") {
        std::optional<std::string> data = base64_decode(e->value);
        if (!data)
            return "Grip-Keep-Alive base64 data is not base64";
        ka.data = std::move(*data);
    } else {
        return "Grip-Keep-Alive has an unknown format";
    }
    if (ka.data.empty())
        return "Grip-Keep-Alive has empty data";
    if (const std::string* t = e->param("timeout")) {
        std::optional<int64_t> n = parse_count(*t, kMaxSeconds);
        if (!n)
            return "Grip-Keep-Alive timeout is not a non-negative integer";
        ka.timeout = static_cast<int>(std::max<int64_t>(*n, 1));
    }
    if (const std::string* m = e->param("mode")) {
        std::optional<KeepAliveMode> mode = keep_alive_mode(*m);
        if (!mode)
            return "Grip-Keep-Alive has an unknown mode";
        ka.mode = *mode;
    }
    in.keep_alive = std::move(ka);
    return std::nullopt;
}

std::optional<InstructionError> parse_status(std::string_view v, Instruction& in) {
    v = trim_ows(v);
    const size_t space = v.find(' ');
    std::optional<int64_t> code = parse_count(v.substr(0, space), 999);
    if (!code)
        return "Grip-Status code is not 0-999";
    StatusOverride s{static_cast<int>(*code), {}};
    if (space != std::string_view::npos)
        s.reason = std::string(trim_ows(v.substr(space + 1)));
    if (s.reason.empty())
        s.reason = std::string(protocol::reason_phrase(s.code));
    in.status = std::move(s);
    return std::nullopt;
}

std::optional<InstructionError> parse_link(std::string_view v, Instruction& in) {
    for (std::string_view part : split_outside_quotes(v, ',')) {
        std::string_view t = trim_ows(part);
        const size_t close = t.find('>');
        if (t.empty() || t.front() != '<' || close == std::string_view::npos)
            return "Grip-Link without <URI>";
        std::optional<Element> e = parse_element(t.substr(close + 1));
        if (!e || !e->value.empty())
            return "malformed Grip-Link";
        const std::string* rel = e->param("rel");
        if (!rel || *rel != "next")
            continue;  // rel=gone is later
        NextLink link{std::string(t.substr(1, close - 1)), 120};
        if (const std::string* timeout = e->param("timeout")) {
            std::optional<int64_t> n = parse_count(*timeout, kMaxSeconds);
            if (!n || *n == 0)
                return "Grip-Link timeout is not a positive integer";
            link.timeout = static_cast<int>(*n);
        }
        if (!in.next)
            in.next = std::move(link);
    }
    return std::nullopt;
}

std::optional<InstructionError> parse_expose(std::string_view v, Instruction& in) {
    if (!in.expose)
        in.expose.emplace();
    for (std::string_view part : split_outside_quotes(v, ',')) {
        std::string_view name = trim_ows(part);
        if (name.empty())
            continue;
        if (!protocol::is_token(name))
            return "Grip-Expose-Headers names an invalid header";
        in.expose->emplace_back(name);
    }
    return std::nullopt;
}

bool starts_with_icase(std::string_view s, std::string_view prefix) {
    return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

}  // namespace

bool is_instruct_body(const std::vector<Header>& headers) {
    const std::string* type = protocol::find_header(headers, "Content-Type");
    if (!type)
        return false;
    std::string_view media = trim_ows(std::string_view(*type).substr(0, type->find(';')));
    return iequals(media, "application/grip-instruct");
}

bool is_grip_response(const std::vector<Header>& headers) {
    for (const Header& h : headers) {
        if (starts_with_icase(h.name, "Grip-"))
            return true;
    }
    return is_instruct_body(headers);
}

std::variant<Instruction, InstructionError> parse_instruction_headers(
    const std::vector<Header>& headers, const Limits& limits) {
    Instruction in;
    bool seen_hold = false, seen_timeout = false, seen_keep_alive = false, seen_status = false;
    for (const Header& h : headers) {
        std::optional<InstructionError> error;
        // The first of a single-valued header counts; list headers accumulate.
        auto first = [](bool& seen) { return !std::exchange(seen, true); };
        if (iequals(h.name, "Grip-Hold")) {
            if (first(seen_hold))
                error = parse_hold(h.value, in);
        } else if (iequals(h.name, "Grip-Channel")) {
            error = parse_channels(h.value, in, limits);
        } else if (iequals(h.name, "Grip-Timeout")) {
            if (first(seen_timeout))
                error = parse_timeout(h.value, in);
        } else if (iequals(h.name, "Grip-Keep-Alive")) {
            if (first(seen_keep_alive))
                error = parse_keep_alive(h.value, in);
        } else if (iequals(h.name, "Grip-Status")) {
            if (first(seen_status))
                error = parse_status(h.value, in);
        } else if (iequals(h.name, "Grip-Link")) {
            error = parse_link(h.value, in);
        } else if (iequals(h.name, "Grip-Expose-Headers")) {
            error = parse_expose(h.value, in);
        }
        if (error)
            return *error;
    }
    if (in.mode != HoldMode::None && in.channels.empty())
        return "Grip-Hold without Grip-Channel";
    return in;
}

namespace {

using json::Json;

std::optional<InstructionError> instruct_channels(const Json& hold, Instruction& in,
                                                  const Limits& limits) {
    const Json* channels = json::member(hold, "channels");
    if (!channels || !channels->is_array() || channels->empty())
        return "instruct hold has no 'channels' array";
    for (const Json& c : *channels) {
        if (!c.is_object())
            return "instruct channel is not an object";
        const Json* name = json::member(c, "name");
        if (!name || !name->is_string())
            return "instruct channel has no 'name' string";
        std::optional<std::string> prev_id;
        std::string error;
        if (!json::optional_string(c, "instruct channel", "prev-id", prev_id, error))
            return error;
        if (auto e = add_channel(in, name->get<std::string>(), std::move(prev_id), limits))
            return e;
    }
    return std::nullopt;
}

std::optional<InstructionError> instruct_keep_alive(const Json& ka, Instruction& in) {
    if (!ka.is_object())
        return "instruct keep-alive is not an object";
    KeepAlive out;
    std::string error;
    if (json::text_or_bin(ka, "'keep-alive'", "content", "content-bin", out.data, error) !=
        json::Payload::Found) {
        return error.empty() ? "instruct keep-alive has no content" : error;
    }
    if (out.data.empty())
        return "instruct keep-alive has empty content";
    if (const Json* t = json::member(ka, "timeout")) {
        std::optional<long long> n = json::integer(*t, 0, kMaxSeconds);
        if (!n)
            return "instruct keep-alive timeout is not a non-negative integer";
        out.timeout = static_cast<int>(std::max<long long>(*n, 1));
    }
    if (const Json* m = json::member(ka, "mode")) {
        std::optional<KeepAliveMode> mode =
            m->is_string() ? keep_alive_mode(m->get_ref<const std::string&>()) : std::nullopt;
        if (!mode)
            return "instruct keep-alive has an unknown mode";
        out.mode = *mode;
    }
    in.keep_alive = std::move(out);
    return std::nullopt;
}

std::optional<InstructionError> instruct_hold(const Json& hold, Instruction& in,
                                              const Limits& limits) {
    if (!hold.is_object())
        return "instruct 'hold' is not an object";
    in.mode = HoldMode::Response;
    if (const Json* mode = json::member(hold, "mode")) {
        if (*mode == "stream")
            in.mode = HoldMode::Stream;
        else if (*mode != "response")
            return "instruct hold mode is neither response nor stream";
    }
    if (auto e = instruct_channels(hold, in, limits))
        return e;
    if (const Json* t = json::member(hold, "timeout")) {
        std::optional<long long> n = json::integer(*t, 0, kMaxSeconds);
        if (!n)
            return "instruct hold timeout is not a non-negative integer";
        in.timeout = *n;
    }
    if (const Json* ka = json::member(hold, "keep-alive"))
        return instruct_keep_alive(*ka, in);
    return std::nullopt;
}

std::optional<InstructionError> instruct_response(const Json& r, Response& out) {
    constexpr std::string_view owner = "'response'";
    if (!r.is_object())
        return "instruct 'response' is not an object";
    if (const Json* code = json::member(r, "code")) {
        std::optional<long long> n = json::integer(*code, 0, 999);
        if (!n)
            return json::invalid_value(owner, "code");
        out.code = static_cast<int>(*n);
    }
    std::string error;
    std::optional<std::string> reason;
    if (!json::optional_string(r, owner, "reason", reason, error))
        return error;
    out.reason =
        reason && !reason->empty() ? *reason : std::string(protocol::reason_phrase(out.code));
    if (out.reason.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos)
        return json::invalid_value(owner, "reason");
    if (const Json* h = json::member(r, "headers")) {
        if (!json::headers(*h, owner, out.headers, error))
            return error;
    }
    if (json::text_or_bin(r, owner, "body", "body-bin", out.body, error) == json::Payload::Error)
        return error;
    return std::nullopt;
}

}  // namespace

std::variant<Instruction, InstructionError> parse_instruct_body(int status, std::string_view body,
                                                                const Limits& limits) {
    if (status != 200)
        return "instruct response status is not 200";
    std::optional<Json> doc = json::parse(body);
    if (!doc)
        return "instruct body is not valid JSON";
    if (!doc->is_object())
        return "instruct body is not a JSON object";
    Instruction in;
    if (const Json* hold = json::member(*doc, "hold")) {
        if (auto e = instruct_hold(*hold, in, limits))
            return *e;
    }
    Response& response = in.response.emplace();
    response.reason = std::string(protocol::reason_phrase(200));
    if (const Json* r = json::member(*doc, "response")) {
        if (auto e = instruct_response(*r, response))
            return *e;
    }
    return in;
}

std::variant<Instruction, InstructionError> parse_instruction(int status,
                                                              const std::vector<Header>& headers,
                                                              std::string_view body,
                                                              const Limits& limits) {
    if (is_instruct_body(headers))
        return parse_instruct_body(status, body, limits);
    return parse_instruction_headers(headers, limits);
}

int64_t hold_timeout(const Instruction& instruction, int64_t default_seconds, int64_t min_seconds) {
    if (!instruction.timeout)
        return default_seconds;
    return std::max(*instruction.timeout, min_seconds);
}

namespace {

// RFC 3986 §5.2.4, on a path without query.
std::string remove_dot_segments(std::string_view in) {
    std::vector<std::string_view> out;
    const bool absolute = !in.empty() && in.front() == '/';
    std::vector<std::string_view> segs;
    for (std::string_view rest = absolute ? in.substr(1) : in;;) {
        const size_t slash = rest.find('/');
        segs.push_back(rest.substr(0, slash));
        if (slash == std::string_view::npos)
            break;
        rest.remove_prefix(slash + 1);
    }
    for (size_t i = 0; i < segs.size(); ++i) {
        const bool last = i + 1 == segs.size();
        if (segs[i] == ".") {
            if (last)
                out.emplace_back();
        } else if (segs[i] == "..") {
            if (!out.empty())
                out.pop_back();
            if (last)
                out.emplace_back();
        } else {
            out.push_back(segs[i]);
        }
    }
    std::string path = "/";
    for (size_t i = 0; i < out.size(); ++i) {
        if (i)
            path.push_back('/');
        path.append(out[i]);
    }
    return path;
}

bool same_authority(std::string_view a, std::string_view origin) {
    if (iequals(a, origin))
        return true;
    // "host" names port 80; an IPv6 literal "[::1]" ends in ']', not in a port.
    const size_t colon = a.rfind(':');
    const bool has_port =
        colon != std::string_view::npos && a.find(']', colon) == std::string_view::npos;
    return !has_port && iequals(std::string(a) + ":80", origin);
}

}  // namespace

std::variant<LinkTarget, InstructionError> resolve_next_link(std::string_view uri,
                                                             std::string_view request_target,
                                                             std::string_view origin_authority) {
    uri = uri.substr(0, uri.find('#'));
    request_target = request_target.substr(0, request_target.find('#'));
    for (char c : uri) {
        if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f)
            return InstructionError("next link URI contains a space or control character");
    }
    const size_t scheme_end = uri.find_first_of(":/?");
    std::string_view rest = uri;
    if (scheme_end != std::string_view::npos && uri[scheme_end] == ':') {
        if (!iequals(uri.substr(0, scheme_end), "http"))
            return InstructionError("next link URI is not http");
        rest = uri.substr(scheme_end + 1);
        if (!rest.starts_with("//"))
            return InstructionError("next link URI has no authority");
    }
    if (rest.starts_with("//")) {
        rest.remove_prefix(2);
        const size_t end = rest.find_first_of("/?");
        if (!same_authority(rest.substr(0, end), origin_authority))
            return InstructionError("next link URI names another host than the origin");
        rest = end == std::string_view::npos ? std::string_view("/") : rest.substr(end);
        if (rest.front() == '?')
            return LinkTarget{"/" + std::string(rest)};
    }
    const std::string_view base_path = request_target.substr(0, request_target.find('?'));
    std::string target;
    if (rest.empty())
        target = std::string(request_target);
    else if (rest.front() == '/')
        target = std::string(rest);
    else if (rest.front() == '?')
        target = std::string(base_path) + std::string(rest);
    else
        target = std::string(base_path.substr(0, base_path.rfind('/') + 1)) + std::string(rest);
    const size_t q = target.find('?');
    std::string path = remove_dot_segments(std::string_view(target).substr(0, q));
    if (q != std::string::npos)
        path.append(target, q);
    return LinkTarget{std::move(path)};
}

}  // namespace pushrelay::grip
