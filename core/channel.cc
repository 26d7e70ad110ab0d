#include "core/channel.h"

namespace pushrelay::core {

std::string_view describe(Status status) noexcept {
    switch (status) {
        case Status::Ok:
            return "ok";
        case Status::NotFound:
            return "no such channel";
        case Status::NoSpace:
            return "shared memory segment is full";
        case Status::Forbidden:
            return "channel does not exist and may not be created here";
        case Status::TooManySubscribers:
            return "channel has too many subscribers";
        case Status::Conflict:
            return "another subscriber is already waiting on this channel";
        case Status::Gone:
            return "channel was deleted";
        case Status::SubscriberShareFull:
            return "channels made by subscribers already fill their share of the segment";
        case Status::Unavailable:
            return "Redis unavailable";
    }
    return "unknown status";
}

}  // namespace pushrelay::core
