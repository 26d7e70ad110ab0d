// push/grip_publish.h — the push_grip_publish location (grip.md "Publish API"): Pushpin's publish
// API on top of a broker. A validated item is published unstored, under its own content type
// (kGripItemType, push/delivery.h), to the channel group/channel of the location, so it reaches
// GRIP holds on every worker and never a push subscriber (grip.md "one namespace").
//
// Run by a worker, from its loop only. Ordering and de-duplication (push/grip_sequencer.h) run on
// each channel's server-wide state through Broker::sequence_grip(), one step at a time for the
// whole server, so whichever worker takes a publish sees the same L, waiting items and ids. A
// timer releases waiting items when their wait is over, whichever worker took them: it polls the
// server's earliest wake (Broker::next_grip_wake) at least every second, and is set for it when
// sooner. /recover forgets every channel's L and tells every worker (Broker::announce_grip_recover)
// so that holds refresh. Holds nothing of the client: every request is answered at once.
#pragma once

#include <ev.h>

#include <cstdint>
#include <functional>
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

    // How often the timer looks for waiting items that are due, at most: the bound on how late
    // an item is released when the worker that took it is gone.
    static constexpr std::int64_t kPollMs = 1'000;

  private:
    // Validates and publishes a body: the reply to send (200, 400, 507).
    grip::ApiReply publish(const conf::Location& location, std::string_view body,
                           grip::ReplyFormat format);
    // Runs one item of a publish through its channel's state, at `now_ms`.
    GripSequencer::Outcome submit(const std::string& key, grip::Item item,
                                  const core::ChannelLimits& limits, GripSequencer::Timing timing,
                                  std::int64_t now_ms);
    // Releases the waiting items that are due on every channel, and forgets idle states.
    void release_due();
    // POST …/recover: every channel's L is forgotten, every worker told.
    void recover();
    // A step on `key`'s `bytes`: decodes them (unreadable bytes: a fresh state, logged), runs
    // `act` with a sequencer on the state, and says what to keep.
    broker::SequenceUpdate step(std::string_view key, std::string_view bytes, std::int64_t now_ms,
                                const std::function<void(GripSequencer&)>& act);
    // Publishes one item to the broker: false when the segment is full.
    bool emit(std::string_view key, const grip::Item& item, const core::ChannelLimits& limits);
    // After steps ran: the status counter learns of the items emitted (one lock for them all),
    // and the timer is set.
    void after_steps();
    void arm_timer();
    static void on_timer(struct ev_loop* loop, ev_timer* w, int revents);

    broker::Broker& broker_;
    struct ev_loop* loop_;
    std::uint64_t emitted_ = 0;  // items emitted since the broker's count was last brought up
    ev_timer timer_;
};

}  // namespace pushrelay::push
