// protocol/message_id.h — message identity as it travels in HTTP headers.
//
// Owns the mapping between a message id (core::MessageId: time, tag) and the Last-Modified / Etag
// headers a subscriber receives and sends back as If-Modified-Since / If-None-Match. Used by the
// worker processes; shm/ stores ids but never sees these headers. The format, and how malformed
// values are read, is doc/protocol-formats.md §1.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/message_id.h"

namespace pushrelay::protocol {

// The id a subscriber asks to follow, from its If-Modified-Since and If-None-Match values
// (nullptr when the header is absent; the pointers need only live for the call).
//   - no If-Modified-Since: nullopt, meaning "the oldest stored message";
//   - a malformed If-Modified-Since: time 0, so that every stored message is newer;
//   - If-None-Match absent or not an integer: tag 0; `3`, `"3"` and `W/"3"` all mean 3.
std::optional<core::MessageId> parse_message_id(const std::string* if_modified_since,
                                                const std::string* if_none_match);

// The Etag header value for `tag`: the unquoted decimal integer (compat with the push module).
std::string format_etag(uint32_t tag);

// A message id as a subscriber names it (transports.md "Message id", "Multiplexing"):
// `<time>:<tag>`, or the multiplexed `<time>:<t1>,...,<tn>` with one tag per channel of the
// subscriber's list, the channel the message came from in brackets, `-` for a channel that had
// no message in that second yet.
struct IdList {
    int64_t time = 0;
    std::vector<std::optional<uint32_t>> tags;  // at least one; nullopt: `-`
    std::optional<size_t> source;               // the bracketed one; set whenever tags.size() > 1
};

// Parses the part after `:` (also an If-None-Match tag list): `t`, `-`, `[t]`, or several tags
// with exactly one bracketed. nullopt if it does not parse (a tag neither `-` nor a decimal
// uint32, more than one `[...]`, several tags without one).
std::optional<IdList> parse_tag_list(std::string_view tags);

// Parses `<time>:<tags>`; nullopt if the time is not a number or the tags do not parse.
std::optional<IdList> parse_id_list(std::string_view text);

// The id a request with If-Modified-Since names (rule 1): its time, and If-None-Match as a tag
// list when it is one (`[0],-`), else as parse_message_id reads a single tag. Precondition:
// if_modified_since is not null.
IdList id_list_from_headers(const std::string* if_modified_since, const std::string* if_none_match);

// Where a subscription to channel `position` of `channels` resumes from the id `named`:
// after (time, tag), or, for `-` (or a tag missing from a shorter list), after every message
// older than `time` (the first at time >= `time`). With one channel the list's only tag, or its
// bracketed one, is the channel's.
core::MessageId resume_point(const IdList& named, size_t position, size_t channels);

// `t1,...,tn`: `tags[source]` in brackets, the others as they are or `-`.
std::string format_tag_list(std::span<const std::optional<uint32_t>> tags, size_t source);

// The ids one multiplexed subscriber is served, in order (transports.md "Multiplexing": the
// channel a message came from has its tag in brackets; every other channel carries its tag from
// the previous id served, or the one resumed from, when that has the same time, else `-`).
class MultiplexedIds {
  public:
    // `channels` > 1; `resumed`: the id the subscriber resumed from (nullopt: none), missing
    // tags being `-`.
    MultiplexedIds(size_t channels, const std::optional<IdList>& resumed);
    // The tag list of message `id` from channel `position`, which becomes the previous id.
    std::string next(size_t position, core::MessageId id);

  private:
    std::optional<int64_t> time_;  // of the previous id; nullopt: none yet
    std::vector<std::optional<uint32_t>> tags_;
};

}  // namespace pushrelay::protocol
