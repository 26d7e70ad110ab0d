// http/request_vars.h — what conf templates read from an exchange's request ($arg_x, $http_x,
// $1, $remote_addr...), for the handlers that expand them (push's channel id, limit keys).
#pragma once

#include "conf/template.h"
#include "http/connection.h"

namespace pushrelay::http {

// The request's variables, `set` ones excepted (conf::SetVariables adds those). The views and
// functions read `exchange`: use them only while it lasts, and before it ends.
conf::RequestVars request_vars(const Exchange& exchange);

}  // namespace pushrelay::http
