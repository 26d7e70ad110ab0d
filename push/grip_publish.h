// push/grip_publish.h — the push_grip_publish location (grip.md "Publish API"): Pushpin's publish
// API on top of a broker. A validated item is published unstored, under its own content type
// (kGripItemType, push/delivery.h), to the channel group/channel of the location, so it reaches
// GRIP holds on every worker and never a push subscriber (grip.md "one namespace").
//
// Run by a worker, from its loop only. Owns the worker's GripSequencer (ordering and
// de-duplication, per worker for now: push/grip_sequencer.h) and the timer that releases the
// items waiting in it; /recover reaches the other workers through a recover count in the
// segment (Broker::note_grip_recover), read with each publish's free-space check. Holds nothing
// of the client: every request is answered at once.
#pragma once

#include <ev.h>

#include <cstdint>
#include <optional>
#include <vector>

#include "broker/broker.h"
#include "grip/item.h"
#include "grip/publish_api.h"
#include "http/connection.h"
#include "push/grip_sequencer.h"

namespace pushrelay::push {

// The request path a push_grip_publish location routes on: what follows the location's prefix
// (a prefix location; an exact one leaves ""), or the whole path for a regex location, whose
// match says nothing of where its API starts.
std::string_view path_after_location(const conf::Location& location, std::string_view path);

class GripPublisher {
  public:
    // `broker` and `loop` outlive the publisher.
    GripPublisher(broker::Broker& broker, struct ev_loop* loop);
    ~GripPublisher();
    GripPublisher(const GripPublisher&) = delete;
    GripPublisher& operator=(const GripPublisher&) = delete;

    // Answers one request to a push_grip_publish location (every row of the Publish API table
    // but 413, which http/ answers before the body is read).
    void handle(http::Exchange& exchange);

    // The worker stops (quit or reload): items still waiting for their predecessor go now,
    // out of order rather than lost with this worker.
    void stop();

  private:
    // Validates and publishes a body: the reply to send (200, 400, 507).
    grip::ApiReply publish(const conf::Location& location, std::string_view body,
                           grip::ReplyFormat format);
    // Publishes one item to the broker: false when the segment is full.
    bool emit(const std::string& key, const grip::Item& item, const core::ChannelLimits& limits);
    // After the sequencer ran: the status counter learns of the items emitted (one lock for
    // them all), and the timer is set for the next waiting item or forgetting.
    void after_emitting();
    void arm_timer();
    static void on_timer(struct ev_loop* loop, ev_timer* w, int revents);

    broker::Broker& broker_;
    struct ev_loop* loop_;
    GripSequencer sequencer_;
    std::uint64_t emitted_ = 0;  // items emitted since the broker's count was last brought up
    // The server's GRIP recover count when this worker last looked (nullopt: not yet): a larger
    // one means a recover taken by another worker, so this one forgets its L too.
    std::optional<std::uint64_t> recovers_seen_;
    ev_timer timer_;
};

}  // namespace pushrelay::push
