// The line a foreground pushrelay (`daemon off`) prints on stderr once its workers are started:
// the version, the worker count, and each listen address with what serves there, so that whoever
// started it (`make run`, a shell, a container log) sees at once what it is serving where.
//
// Master only; a pure function of the Config (the caller prints), so it is unit-tested directly.
// A daemon prints nothing: its stderr is /dev/null, and the error log has its own notice.
#pragma once

#include <string>
#include <string_view>

#include "conf/conf.h"

namespace pushrelay::master {

// "pushrelay VERSION started: N workers; ADDRESS ROLES; ADDRESS ROLES", without a line end.
// One entry per listen, in conf order. ROLES lists, in order of first appearance, each role a
// location of the listen's server has (publisher, subscriber, status) with those locations as
// written: "publisher (/pub), status (= /status)". A role the server itself has (inherited by
// unmatched paths) shows as "any other path", or "any path" when the server has no location.
// A server without any role: "(no push locations)".
std::string startup_line(const conf::Config& config, std::string_view version);

}  // namespace pushrelay::master
