// broker/broker.h — the seam between the push semantics (push/) and where channels live.
//
// A Broker is what one worker process needs of the channel store: publish, delete, channel info;
// subscribe (fetch what a subscriber asked for, or register it as waiting on this worker),
// unsubscribe, fetch the next message after an id; and the events that reach the channels this
// worker waits on (a message, a deletion, a kick from a `last` subscriber), handed to a
// Listener. The shared segment (ShmBroker, broker/shm_broker.h) is the first implementation;
// Redis is the next.
//
// A waiter is counted by the broker on the worker that holds it, so that channel info and
// push_max_channel_subscribers see every worker. Who ends a waiter says how its count goes:
// record_delivery() for the one-shot waiters a message answered, unsubscribe() for every other
// ending; a deletion ends them all by itself. push::Subscriptions is the one caller of these.
//
// Redis mode (broker/redis_broker.h) puts a round trip behind publishing, deleting, channel info
// and the first subscribe to a channel the node's cache does not hold: those come in a second,
// callback form (`*_then`, prepare_subscribe()). The segment answers them at once, and the base
// class's versions do exactly that, so push/ uses the callback forms everywhere and one code path
// serves both modes.
//
// Single-threaded: one Broker per worker process, used from its loop only. Nothing throws.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/channel.h"
#include "core/message_id.h"
#include "core/redis_figures.h"

namespace pushrelay::broker {

using core::ChannelInfo;
using core::ChannelLimits;
using core::MessageId;
using core::Status;

// A channel this worker holds waiters on: its key (group + "/" + id) and the uid that tells it
// from a channel of the same key deleted and created again.
struct ChannelRef {
    std::string key;
    std::uint64_t uid = 0;
};

// A message as the broker hands it out: its own copy, shareable by every subscriber it goes to.
// `receipt` is the broker's handle for record_delivery() while the message is being dispatched;
// 0 outside a dispatch (a subscribe or find_next result, already counted). The receipt stays
// valid as long as `receipt_hold` (shared by every copy of the Message) lives: a listener that
// delivers in batches after on_message() has returned keeps a copy, and the broker takes the
// receipt back when the last copy is gone. Null outside a dispatch.
struct Message {
    MessageId id;
    std::string content_type;  // empty: the publisher sent none
    std::string event;         // X-EventSource-Event of the publish; empty: none
    std::shared_ptr<const std::string> body;
    std::uint64_t receipt = 0;
    std::shared_ptr<const void> receipt_hold;
};

// Receives the events of the channels this worker holds waiters on.
class Listener {
  public:
    virtual ~Listener() = default;
    virtual void on_message(std::uint64_t uid, const Message& message) = 0;
    virtual void on_deleted(std::uint64_t uid) = 0;
    // A `last` subscriber arrived: waiters registered before `before_seq` must go (409).
    virtual void on_kick(std::uint64_t uid, std::uint64_t before_seq) = 0;
    // Events were lost (a full mailbox): every waiter must ask find_next() what it missed.
    virtual void on_events_lost() = 0;
    // A GRIP recover was taken by some worker (announce_grip_recover()): holds refresh.
    virtual void on_grip_recover() = 0;
};

// What one GRIP sequencing step leaves for its channel (Broker::sequence_grip).
struct SequenceUpdate {
    bool keep = false;             // false: the channel's sequencing state is forgotten
    std::string state;             // kept: the new state, opaque to the broker
    std::int64_t wake_at_ms = 0;   // kept: when sequence_grip_due() must visit it (caller's clock)
    std::uint32_t waiting = 0;     // kept: items waiting in it (Stats::grip_waiting)
    std::uint32_t duplicates = 0;  // items the step dropped as repeats (Stats::grip_duplicates)
};
// A step: called with the channel key and its state ("" when it has none); the views live for
// the call. It may publish() (that is how its items go out) but must not call a sequence_*
// member.
using SequenceStep = std::function<SequenceUpdate(std::string_view key, std::string_view state)>;

enum class Concurrency : std::uint8_t { Broadcast, First, Last };

struct SubscribeRequest {
    std::string_view key;
    std::optional<MessageId> since;  // nullopt: the oldest stored message
    bool wait_for_new = false;       // skip the queue: wait for the next new message
    // Without `since`: N > 0 the Nth oldest stored, N < 0 the |N|th newest (the oldest when
    // fewer are stored); push_subscriber_first_message `newest` is wait_for_new instead.
    std::int32_t first_message = 1;
    // An absent channel: false, Forbidden; true, created only if this request will wait on it
    // (`wait` or `persistent`), else Ok with nothing (uid 0, no message, not waiting) and nothing
    // created. Creating is refused with SubscriberShareFull once the channels subscribers made
    // (and no publisher has published to) fill their share of the store.
    bool create_channel = true;
    bool wait = true;                   // register a waiter when nothing matches (long-poll)
    bool persistent = false;            // a stream: registered even when a message matched
    std::uint32_t max_subscribers = 0;  // 0: no limit
    Concurrency concurrency = Concurrency::Broadcast;
    ChannelLimits limits_if_created{};
};

struct SubscribeResult {
    Status status = Status::Ok;
    ChannelRef channel;              // uid 0 if there is none
    std::optional<Message> message;  // the message asked for, already counted as received
    bool waiting = false;            // registered as a waiter on this worker
    std::uint64_t waiter_seq = 0;    // its registration order (concurrency `last`)
    // When waiting: the channel's newest id at registration (time -1: none yet). Everything
    // after it comes as events; a resync after lost events resumes from here.
    MessageId resume_after{};
};

struct NextResult {
    Status status = Status::Ok;         // Ok, or Gone when the channel was deleted
    std::optional<Message> message;     // the first stored message after `since`, counted
    std::uint64_t kick_before_seq = 0;  // waiters registered before this were kicked (0: none)
};

struct PublishResult {
    Status status = Status::Ok;  // Ok, NoSpace, or Unavailable (Redis mode)
    bool had_waiters = false;    // some worker held a waiter on the channel (201, else 202)
    ChannelInfo info{};          // after the publish
    std::string error;           // Unavailable: why, for the 503 body
};

struct DeleteResult {
    Status status = Status::Ok;  // Ok, NotFound, or Unavailable (Redis mode)
    ChannelInfo info{};          // before the deletion
    std::string error;           // Unavailable: why
};

struct InfoResult {
    Status status = Status::Ok;  // Ok, NotFound, or Unavailable (Redis mode)
    ChannelInfo info{};
    std::string error;  // Unavailable: why
};

// A publish in its callback form: the views must live only for the publish_then() call.
struct PublishCall {
    std::string_view key;
    std::string_view content_type;
    std::string_view event;
    std::string_view body;
    ChannelLimits limits{};
    // The client's Idempotency-Key (scale-out.md), empty: none. Memory mode ignores it.
    std::string_view idempotency_key;
};

// What prepare_subscribe() needs to know of the subscribers to come.
struct PrepareRequest {
    std::string_view key;
    std::optional<MessageId> since;  // the id the subscriber names, if any
    bool create_channel = true;      // push_authorized_channels_only off
    // Redis mode: `first` asks every node (Conflict when another holds waiters), `last` kicks
    // the waiters of every other node.
    Concurrency concurrency = Concurrency::Broadcast;
    ChannelLimits limits_if_created{};
};

struct Prepared {
    Status status = Status::Ok;  // Ok; Unavailable: subscribe() cannot answer it; Conflict
    std::string error;           // Unavailable: why
};

// Server-wide figures for push_stub_status.
struct Stats {
    std::uint64_t segment_size = 0;
    std::uint64_t segment_free = 0;
    std::uint64_t channels = 0;
    std::uint64_t messages = 0;
    std::uint64_t subscribers = 0;
    std::uint64_t subscriber_bytes = 0;  // channels subscribers made, not yet published to
    std::uint64_t subscriber_share = 0;  // the most subscriber_bytes may reach
    std::uint64_t published = 0;
    std::uint64_t delivered = 0;
    std::uint64_t grip_items = 0;          // GRIP items published (count_grip_items totals)
    std::uint64_t grip_recovers = 0;       // GRIP recovers taken (announce_grip_recover calls)
    std::uint64_t grip_rerequests = 0;     // count_grip_rerequest calls, every worker
    std::uint64_t grip_origin_errors = 0;  // count_grip_origin_error calls, every worker
    std::uint64_t grip_waiting = 0;        // GRIP items waiting for their predecessor
    std::uint64_t grip_duplicates = 0;     // GRIP items dropped as repeats of a recent id
    std::uint64_t workers = 0;
    std::uint64_t connections = 0;
    core::SubscriberCounts held{};  // held subscribers by kind, every worker
    std::int64_t started_ms = 0;
    std::uint64_t reloads = 0;
    bool redis_mode = false;     // Redis mode: `redis` is meaningful
    core::RedisFigures redis{};  // this node's, every process
};

class Broker {
  public:
    virtual ~Broker() = default;

    // ---- publisher side ----
    // `event`: the publisher's X-EventSource-Event (EventSource `event:` line), empty if none.
    virtual PublishResult publish(std::string_view key, std::string_view content_type,
                                  std::string_view event, std::string_view body,
                                  const ChannelLimits& limits) = 0;
    virtual DeleteResult delete_channel(std::string_view key) = 0;
    virtual std::optional<ChannelInfo> info(std::string_view key) = 0;

    // ---- subscriber side ----
    virtual SubscribeResult subscribe(const SubscribeRequest& request) = 0;
    // Forgets n waiters of this worker on `channel` that ended without a message.
    virtual void unsubscribe(const ChannelRef& channel, std::uint32_t n) = 0;
    // For a message from on_message (during the call, or later while a copy of it is kept):
    // `delivered` subscribers got `message`, `ended` of them (the one-shot ones) stop waiting.
    // May be called several times for one message (once per delivery batch); the counts add up.
    // Precondition: ended <= delivered.
    virtual void record_delivery(const ChannelRef& channel, const Message& message,
                                 std::uint32_t delivered, std::uint32_t ended) = 0;
    virtual NextResult find_next(const ChannelRef& channel, MessageId since) = 0;

    // ---- the callback forms (see the top of this file) ----
    // Each calls `done` exactly once, at once or from the loop later; never after the Broker is
    // destroyed. The base versions answer at once from the synchronous calls above.
    virtual void publish_then(const PublishCall& call, std::function<void(PublishResult&&)> done) {
        done(publish(call.key, call.content_type, call.event, call.body, call.limits));
    }
    virtual void delete_then(std::string_view key, std::function<void(DeleteResult&&)> done) {
        done(delete_channel(key));
    }
    virtual void info_then(std::string_view key, std::function<void(InfoResult&&)> done) {
        std::optional<ChannelInfo> found = info(key);
        done(found ? InfoResult{Status::Ok, *found, {}} : InfoResult{Status::NotFound, {}, {}});
    }
    // Makes subscribe() able to answer a subscriber of `request.key` that names
    // `request.since`: in Redis mode, the node's cache must hold the channel, synced with Redis
    // at least up to `since`. Ok: call subscribe() now (in this callback).
    virtual void prepare_subscribe(const PrepareRequest& request,
                                   std::function<void(Prepared&&)> done) {
        (void)request;
        done(Prepared{});
    }

    // ---- events ----
    virtual void set_listener(Listener* listener) = 0;
    // Hands every pending event to the listener (the worker calls it when woken).
    virtual void dispatch_events() = 0;

    // ---- housekeeping ----
    // Drops expired messages and idle channels (the worker's expiry timer).
    virtual void expire() = 0;
    virtual Stats stats() = 0;
    // This worker now holds `n` subscribers of `kind` (for stats()).
    virtual void set_held(core::SubscriberKind kind, std::uint32_t n) = 0;
    // This worker published `n` GRIP items (each a publish() of its own), for stats(). Apart
    // from publish() so that the broker need not know GRIP's content type.
    virtual void count_grip_items(std::uint64_t n) = 0;
    // A GRIP re-request was sent, or an origin failed a GRIP request (502, cut body): counted
    // server-wide for stats(), cheaply enough for every occurrence.
    virtual void count_grip_rerequest() = 0;
    virtual void count_grip_origin_error() = 0;

    // ---- GRIP sequencing (grip.md "Across workers": one state per channel for the server) ----
    // Runs `step` on the sequencing state of channel `key` while no other worker runs a step,
    // and keeps what it leaves. NoSpace: the new state did not fit in the segment and the
    // channel's state is forgotten.
    virtual Status sequence_grip(std::string_view key, const SequenceStep& step) = 0;
    // Runs `step` on every channel whose wake time is at or before `due_ms` (INT64_MAX: every
    // channel), whichever worker stored it. Returns how many channels it visited.
    virtual std::size_t sequence_grip_due(std::int64_t due_ms, const SequenceStep& step) = 0;
    // A copy of channel `key`'s sequencing state ("" when it has none): for a look at it
    // without a step (a new stream hold comparing its prev-ids with the channel's).
    virtual std::string grip_sequence_state(std::string_view key) = 0;
    // The earliest wake time of any channel's state (INT64_MAX: none). Cheap: for polling.
    virtual std::int64_t next_grip_wake() = 0;
    // Every worker's listener gets on_grip_recover(), this one's included (at its next
    // dispatch_events()); counted in Stats::grip_recovers.
    virtual void announce_grip_recover() = 0;
    // Wall-clock milliseconds as the broker dates messages (the loop's time for this iteration).
    virtual std::int64_t now_ms() const = 0;
};

}  // namespace pushrelay::broker
