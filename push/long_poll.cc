#include "push/long_poll.h"

#include "push/responses.h"

namespace pushrelay::push {
namespace {

constexpr std::string_view kGoneText = "410 Gone: the channel was deleted.\n";
constexpr std::string_view kKickedText = "409 Conflict: a newer subscriber took this channel.\n";

}  // namespace

LongPoll::LongPoll(http::Exchange& exchange) : exchange_(exchange) {
    exchange_.set_observer(this);
}

void LongPoll::deliver(const Payload& payload, DeliveryHeads& heads) {
    respond_with_payload(exchange_, payload, heads);
}

void LongPoll::finish(Ending why) {
    switch (why) {
        case Ending::Deleted:
            respond_text(exchange_, 410, kGoneText);
            break;
        case Ending::Kicked:
            respond_text(exchange_, 409, kKickedText);
            break;
        case Ending::TimedOut:  // push_subscriber_timeout: the client polls again with its ids
        case Ending::Stopping:  // and another worker answers it
        case Ending::Restarting:
            respond_not_modified(exchange_);
            break;
        case Ending::Delivered:
        case Ending::Resynced:
        case Ending::ClientGone:
            break;
    }
}

}  // namespace pushrelay::push
