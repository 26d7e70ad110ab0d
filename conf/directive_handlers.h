// Directive handlers that have a file of their own (blocks, listen), and the value readers
// every handler shares. Internal to conf/; the table in directives.cc points at these.
#pragma once

#include <string_view>

#include "conf/walk.h"

namespace pushrelay::conf {

MaybeError handle_events(Apply& block, const Statement& st);
MaybeError handle_http(Apply& block, const Statement& st);
MaybeError handle_server(Apply& block, const Statement& st);
MaybeError handle_location(Apply& block, const Statement& st);
MaybeError handle_listen(Apply& block, const Statement& st);

// `invalid WHAT "ARG" in "NAME" directive` followed by hint (", it must be ..." or " (...)").
Error invalid_argument(const Statement& st, size_t index, std::string_view what,
                       std::string_view hint);

// st.args[index] as a count; below min is an error saying so.
MaybeError read_count(const Statement& st, size_t index, uint32_t min, uint32_t* out);

}  // namespace pushrelay::conf
