#include "conf/template.h"

#include <algorithm>
#include <cctype>

#include "core/peer_address.h"
#include "protocol/query.h"

namespace pushrelay::conf {
namespace {

constexpr std::string_view kArgPrefix = "arg_";
constexpr std::string_view kHeaderPrefix = "http_";

bool is_name_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}

bool is_capture(std::string_view name) {
    return name.size() == 1 && name[0] >= '1' && name[0] <= '9';
}

// "$http_x_push_id" reads header "x-push-id".
std::string header_name(std::string_view suffix) {
    std::string name(suffix);
    for (char& c : name) {
        c = c == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return name;
}

// Reads the variable name after a '$' at text[*pos], leaving *pos after it.
Parsed<std::string> read_variable_name(std::string_view text, size_t* pos) {
    if (*pos < text.size() && text[*pos] == '{') {
        size_t close = text.find('}', *pos);
        if (close == std::string_view::npos) {
            return {std::nullopt, "the closing bracket in \"$" + std::string(text.substr(*pos)) +
                                      "\" variable is missing"};
        }
        std::string name(text.substr(*pos + 1, close - *pos - 1));
        *pos = close + 1;
        if (!is_variable_name(name)) {
            return {std::nullopt, "invalid variable name \"${" + name + "}\""};
        }
        return {std::move(name), {}};
    }
    size_t start = *pos;
    if (*pos < text.size() && std::isdigit(static_cast<unsigned char>(text[*pos]))) {
        ++*pos;  // $1..$9 are one digit: "$12" is $1 then "2", as in nginx
    } else {
        while (*pos < text.size() && is_name_char(text[*pos])) {
            ++*pos;
        }
    }
    if (*pos == start) {
        return {std::nullopt, "invalid variable name in \"" + std::string(text) +
                                  "\": a '$' must be followed by a name"};
    }
    return {std::string(text.substr(start, *pos - start)), {}};
}

}  // namespace

bool is_variable_name(std::string_view name) {
    return !name.empty() && std::all_of(name.begin(), name.end(), is_name_char);
}

std::string_view canonical_variable(std::string_view name) {
    return name == "push_id" ? std::string_view("push_channel_id") : name;
}

bool is_builtin_variable(std::string_view name) {
    return name == "uri" || name == "args" || name == "remote_addr" ||
           name == "binary_remote_addr" || is_capture(name) ||
           (name.starts_with(kArgPrefix) && name.size() > kArgPrefix.size()) ||
           (name.starts_with(kHeaderPrefix) && name.size() > kHeaderPrefix.size());
}

Parsed<Template> Template::compile(std::string_view text,
                                   const std::function<bool(std::string_view)>& is_set) {
    Template t;
    t.text_ = text;
    size_t pos = 0;
    while (pos < text.size()) {
        size_t dollar = text.find('$', pos);
        if (dollar != pos) {
            t.parts_.push_back({Kind::Literal, std::string(text.substr(pos, dollar - pos))});
            pos = std::min(dollar, text.size());
            continue;
        }
        pos = dollar + 1;
        Parsed<std::string> name = read_variable_name(text, &pos);
        if (!name.value) {
            return {std::nullopt, std::move(name.error)};
        }
        std::string_view n = *name.value;
        if (n == "uri") {
            t.parts_.push_back({Kind::Uri, {}});
        } else if (n == "args") {
            t.parts_.push_back({Kind::Args, {}});
        } else if (n == "remote_addr") {
            t.parts_.push_back({Kind::RemoteAddr, {}});
        } else if (n == "binary_remote_addr") {
            t.parts_.push_back({Kind::BinaryRemoteAddr, {}});
        } else if (is_capture(n)) {
            t.parts_.push_back({Kind::Capture, std::string(n)});
        } else if (n.starts_with(kArgPrefix) && n.size() > kArgPrefix.size()) {
            t.parts_.push_back({Kind::Arg, std::string(n.substr(kArgPrefix.size()))});
        } else if (n.starts_with(kHeaderPrefix) && n.size() > kHeaderPrefix.size()) {
            t.parts_.push_back({Kind::Header, header_name(n.substr(kHeaderPrefix.size()))});
        } else if (is_set(canonical_variable(n))) {
            t.parts_.push_back({Kind::Variable, std::string(canonical_variable(n))});
        } else {
            return {std::nullopt, "unknown \"" + std::string(n) + "\" variable"};
        }
    }
    return {std::move(t), {}};
}

void Template::append_part(const Part& part, const RequestVars& vars, std::string* out) {
    std::optional<std::string_view> value;
    switch (part.kind) {
        case Kind::Literal:
            value = part.text;
            break;
        case Kind::Uri:
            value = vars.path;
            break;
        case Kind::Args:
            value = vars.query;
            break;
        case Kind::Arg:
            value = protocol::query_argument(vars.query, part.text);
            break;
        case Kind::Header:
            value = vars.header ? vars.header(part.text) : std::nullopt;
            break;
        case Kind::Capture: {
            size_t index = static_cast<size_t>(part.text[0] - '1');
            if (index < vars.captures.size())
                value = vars.captures[index];
            break;
        }
        case Kind::Variable:
            value = vars.variable ? vars.variable(part.text) : std::nullopt;
            break;
        case Kind::RemoteAddr:
            // Formatted here rather than viewed: the text exists nowhere else.
            if (vars.peer)
                *out += core::peer_address(vars.peer);
            break;
        case Kind::BinaryRemoteAddr:
            if (vars.peer)
                value = core::binary_peer_address(vars.peer);
            break;
    }
    *out += value.value_or(std::string_view());
}

std::string Template::expand(const RequestVars& vars) const {
    std::string out;
    for (const Part& part : parts_) {
        append_part(part, vars, &out);
    }
    return out;
}

bool Template::reads_set_variables() const {
    return std::any_of(parts_.begin(), parts_.end(),
                       [](const Part& part) { return part.kind == Kind::Variable; });
}

SetVariables::SetVariables(std::span<const SetDirective> sets, const RequestVars& request) {
    RequestVars vars = request;
    vars.variable = [this](std::string_view name) { return find(name); };
    for (const SetDirective& set : sets) {
        std::string value = set.value.expand(vars);
        values_.emplace_back(set.variable, std::move(value));
    }
}

std::optional<std::string_view> SetVariables::find(std::string_view name) const {
    name = canonical_variable(name);
    for (auto it = values_.rbegin(); it != values_.rend(); ++it) {
        if (it->first == name) {
            return it->second;
        }
    }
    return std::nullopt;
}

}  // namespace pushrelay::conf
