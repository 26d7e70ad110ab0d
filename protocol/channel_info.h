// protocol/channel_info.h — the channel info body a publisher location answers with.
//
// Owns the choice of format from the Accept header and the exact bytes of each format (compat:
// clients of the push module parse them). Used by the worker processes; the counts come from
// shm/ but this module only formats numbers it is given. The bodies are specified byte for byte
// in doc/protocol-formats.md §2.
#pragma once

#include <cstdint>
#include <string>

namespace pushrelay::protocol {

enum class InfoFormat { Plain, Json, Yaml, Xml };

struct InfoType {
    InfoFormat format;
    std::string content_type;  // the media type matched, lower case ("application/x-json")
};

// The format for a request with this Accept value (nullptr: no Accept header): the first media
// range, in header order, whose type is text or application and whose subtype is plain, json,
// x-json, yaml, x-yaml or xml (case-insensitive; parameters and q-values are ignored, as the
// module did). None of them: text/plain.
InfoType choose_info_type(const std::string* accept);

struct ChannelInfo {
    uint64_t messages;     // messages stored in the channel
    int64_t requested;     // seconds since a subscriber last asked; -1 if none ever did
    uint64_t subscribers;  // subscribers waiting now, across all workers
};

// The body for `info` in `format`, exactly as doc/protocol-formats.md §2 shows it.
std::string format_channel_info(const ChannelInfo& info, InfoFormat format);

}  // namespace pushrelay::protocol
