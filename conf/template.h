// `set` values: text with variables, compiled at load and expanded per request.
//
// Owned by conf/: templates are compiled in the master while loading, then expanded by workers
// for each request of a location that has `set` directives. A Template is immutable after
// compile; expanding allocates only the result.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "conf/values.h"

namespace pushrelay::conf {

// What a template may read from the request being served. The views and functions must stay
// valid for the duration of one expand() call only.
struct RequestVars {
    std::string_view path;   // the request path, without the query
    std::string_view query;  // after '?', without it; "" if none
    // The value of a request header, by lowercase name with '-' ($http_x_id asks for "x-id");
    // the caller compares case-insensitively. nullopt (or an empty function) if absent.
    std::function<std::optional<std::string_view>(std::string_view name)> header;
    // The location regex's groups: $1..$9 read captures[0..8]; missing ones expand to "".
    std::span<const std::string> captures;
    // The value of a variable set by an earlier `set`, by canonical name (see
    // canonical_variable). nullopt (or an empty function) if it has no value.
    std::function<std::optional<std::string_view>(std::string_view name)> variable;
    // The client's address, for $remote_addr and $binary_remote_addr; nullptr: they are "".
    const sockaddr* peer = nullptr;
};

// Literal text mixed with $uri, $args, $arg_NAME, $http_NAME, $1..$9, $remote_addr,
// $binary_remote_addr (4 or 16 raw bytes) and variables set earlier, each as $name or ${name}.
class Template {
  public:
    Template() = default;  // expands to ""

    // Compiles text. is_set(name) says whether an earlier `set` gives the variable `name`
    // (canonical name). Fails on an unknown variable or a malformed $-reference.
    static Parsed<Template> compile(std::string_view text,
                                    const std::function<bool(std::string_view)>& is_set);

    // The text with every variable replaced by its value ("" when it has none). $arg_NAME is
    // the raw (still percent-encoded) value of the first NAME= query parameter, NAME matched
    // case-insensitively, as nginx does (protocol::query_argument).
    std::string expand(const RequestVars& vars) const;

    // The text as written in the conf.
    const std::string& text() const { return text_; }

    // Whether expanding reads a `set` variable (RequestVars::variable), so that a caller can
    // skip running the location's `set` directives when it does not.
    bool reads_set_variables() const;

  private:
    enum class Kind : uint8_t {
        Literal,
        Uri,
        Args,
        Arg,
        Header,
        Capture,
        Variable,
        RemoteAddr,
        BinaryRemoteAddr
    };
    struct Part {
        Kind kind;
        std::string text;  // literal text, or the name to look up (Capture: the digit)
    };

    static void append_part(const Part& part, const RequestVars& vars, std::string* out);

    std::vector<Part> parts_;
    std::string text_;
};

// The name a variable is known by: "push_id" (the module's first name) is "push_channel_id".
std::string_view canonical_variable(std::string_view name);

// Whether name is a valid variable name: letters, digits and '_', at least one.
bool is_variable_name(std::string_view name);

// Whether the request provides the variable ($uri, $arg_x, $1, ...), so that `set` may not.
bool is_builtin_variable(std::string_view name);

// One `set $variable value;` of a location (the server's come first).
struct SetDirective {
    std::string variable;  // canonical name, without '$'
    Template value;
};

// The values of a location's `set` variables for one request.
class SetVariables {
  public:
    // Expands sets in order; each sees the values of those before it. request.variable is
    // ignored (this object provides it). The views in request are not kept.
    SetVariables(std::span<const SetDirective> sets, const RequestVars& request);

    // The value of variable `name` (alias or canonical, without '$'), or nullopt if no set gave
    // it one. The view lives as long as this object.
    std::optional<std::string_view> find(std::string_view name) const;

  private:
    std::vector<std::pair<std::string, std::string>> values_;  // in set order; later wins
};

}  // namespace pushrelay::conf
