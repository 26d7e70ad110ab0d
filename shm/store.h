// The channel store: channels, their messages, limits and expiry, and the per-worker mailboxes,
// all inside the shared segment (shm/segment.h).
//
// The master constructs a Store on a fresh Segment before forking; every worker then uses its
// inherited copy. Each worker has a slot (0..kMaxWorkerSlots-1). A worker keeps its waiting
// subscribers in its own lists keyed by channel uid; the store only counts them per slot. A
// publish (or delete, or a `last` subscriber) posts events into the mailboxes of the slots that
// hold waiters and reports those slots as a bit mask; waking them (eventfd) is the caller's job.
//
// shm/ knows nothing of HTTP, sockets or conf: inputs are plain values and time is always passed
// in (now_ms, milliseconds of the wall clock), never read here.
//
// Every `slot` argument must be in 0..kMaxWorkerSlots-1 (checked by assert).
//
// Crash consistency: any process may be SIGKILLed at any point, holding the lock or not. The next
// locker repairs what it left half done (shm/repair.h), and reset_slot() gives back what a dead
// worker held: its waiter counts, its undrained events and the pins it took on its slot. What
// stays unprotected is listed in doc/shm-layout.md, "Crash consistency".
//
// Thread safety: every member takes the store's one robust lock internally (except view(), which
// needs none); callers never lock. A Store is used by one thread per process.
// Errors: nothing throws. Running out of segment space is Status::NoSpace, with the call's partial
// work undone.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include "core/channel.h"
#include "core/message_id.h"
#include "core/redis_figures.h"
#include "core/worker_context.h"

namespace pushrelay::shm {

// The channel vocabulary every store shares (core/channel.h).
using core::ChannelInfo;
using core::ChannelLimits;
using core::describe;
using core::Status;

class Segment;
struct Root;

// Slot masks are uint64_t, one bit per slot.
using core::kMaxWorkerSlots;

// For a pin taken outside any slot: it is not in a ledger, so it leaks if its holder dies.
inline constexpr int kNoSlot = -1;

// One reference on a message in the segment. A pin keeps the message valid and immutable until
// it is handed to Store::unpin(), even if its channel drops it or is deleted. Plain value: copying
// a pin does not add a reference; exactly one copy must be unpinned. A pin taken on a slot is
// entered in that slot's ledger, and given back by reset_slot() if its holder dies.
struct MessagePin {
    std::uint64_t offset = 0;  // opaque: where the message is, and its ledger entry; 0 = none
    explicit operator bool() const noexcept { return offset != 0; }
};
// Pins travel through the mailboxes in the segment and are copied between processes as bytes.
static_assert(std::is_trivially_copyable_v<MessagePin>);

// A pinned message's contents. The views stay valid until the pin is unpinned.
struct MessageView {
    core::MessageId id{};
    std::string_view content_type;  // empty: the publisher sent none
    std::string_view event;         // X-EventSource-Event; empty: none
    std::string_view body;
};

class Store {
  public:
    // Binds to the store inside `segment`, or says why it cannot: the segment holds no store (it
    // was moved from), or its root was laid out by a build with another kLayoutVersion
    // (shm/layout.h), whose structures this build must not read; the error names both versions.
    // Checked in every build, not only by assert. The segment's mapping must outlive the Store
    // (and every fork()ed copy of it); moving the Segment object itself is fine.
    static std::variant<Store, std::string> open(Segment& segment);

    // A Store is a handle on the segment's root: moving it moves the binding, and a moved-from
    // Store may only be destroyed. Copies are refused: one handle per owner.
    Store(Store&& other) noexcept;
    Store& operator=(Store&&) = delete;
    Store(const Store&) = delete;
    Store& operator=(const Store&) = delete;

    // ---- subscriber side ----

    enum class Concurrency : std::uint8_t { Broadcast, First, Last };

    struct SubscribeRequest {
        std::string_view key;                  // group + "/" + id, opaque bytes
        std::optional<core::MessageId> since;  // nullopt: the oldest stored message
        bool wait_for_new = false;             // skip the queue: wait for the next new message
        // Without `since`: which stored message (push_subscriber_first_message): N > 0 the Nth
        // oldest, N < 0 the |N|th newest, the oldest when fewer are stored.
        std::int32_t first_message = 1;
        // When the channel does not exist: false, Forbidden; true, created only if this request
        // will wait on it (`hold` or `persistent`), and otherwise looked up only: Ok with uid 0,
        // nothing matched, nothing held, and nothing created (an interval-poll leaves nothing
        // behind). A channel created here is made by a subscriber: see set_subscriber_share().
        bool create_channel = true;
        bool hold = true;  // long-poll: register a waiter when nothing matches
        // A stream subscriber (EventSource, WebSocket) rather than a one-shot waiter: registered
        // as a waiter on `slot` whether or not a message matched (`hold` does not matter), and
        // still registered after deliveries, until release_waiters(). It takes the match and the
        // backlog after it: resume_after is the channel's newest id at registration, so the
        // caller fetches the messages after the match up to resume_after with find_next(), and
        // every newer one comes as a Published event. Each message it sends the subscriber, but
        // the match (counted here), is recorded with record_delivery(delivered 1, ended 0).
        bool persistent = false;
        std::uint32_t max_subscribers = 0;  // 0: no limit
        Concurrency concurrency = Concurrency::Broadcast;
        int slot = 0;  // the calling worker's slot; precondition: 0 <= slot < kMaxWorkerSlots
        ChannelLimits limits_if_created{};
        std::int64_t now_ms = 0;
    };

    struct SubscribeResult {
        Status status = Status::Ok;
        std::uint64_t uid = 0;              // the channel's uid; 0 if there is none
        MessagePin message{};               // set if a message matched; the caller must unpin it
        bool held = false;                  // registered as a waiter on `slot`
        std::uint64_t waiter_seq = 0;       // the new waiter's sequence number (when held)
        std::uint64_t kick_slots_mask = 0;  // Last: slots sent a Kick (including the caller's)
        // When held: the channel's newest id at registration (time -1: none yet). Every message
        // after it reaches the slot as a Published event, so it is what a resync after a mailbox
        // overflow passes to find_next(), whatever `since` was, and where a persistent
        // subscriber's backlog ends.
        core::MessageId resume_after{};
    };

    // Looks the channel up (creating it unless !create_channel), records the request time, drops
    // its expired messages and searches the queue: the first stored message with a later time than
    // `since`, or the same time and a greater tag; a `since` older than everything stored yields
    // the oldest. A match is pinned, counted as received once and returned.
    // A one-shot request with a match ends there (never a conflict). Without one, with `hold`, or
    // whatever matched when `persistent`, the caller is registered as a waiter on `slot`:
    // First → Conflict if any waiter is held; Last → a Kick{uid, before_seq = the new waiter's
    // seq} is posted to every slot holding waiters first. A persistent request refused (Conflict,
    // NoSpace) takes no message. Checked before anything: max_subscribers → TooManySubscribers.
    // Creating a channel that would take subscriber-made channels past the subscriber share →
    // SubscriberShareFull, nothing changed (joining an existing channel is never refused so).
    SubscribeResult subscribe(const SubscribeRequest& request) noexcept;

    // Forgets n waiters of `slot` that ended other than by a delivery recorded with
    // record_delivery(): the client closed, timed out or was kicked, or a persistent subscriber
    // left. A uid that no longer names the channel is a no-op. A channel made by a subscriber
    // and never published to is removed with its last waiter.
    void release_waiters(std::string_view key, std::uint64_t uid, int slot, std::uint32_t n,
                         std::int64_t now_ms) noexcept;

    // After the worker on `slot` delivered `message` to `delivered` of its waiters on the channel,
    // `ended` of which were one-shot (long-poll) waiters that this delivery answered: counts
    // `delivered` receipts of the message and deliveries, forgets the `ended` waiters (persistent
    // subscribers stay registered), and applies delete_oldest_received. The pin stays the
    // caller's. On a uid mismatch only the message's receipts and the delivered total change.
    // Precondition: ended <= delivered (checked by assert).
    void record_delivery(std::string_view key, std::uint64_t uid, int slot, std::uint32_t delivered,
                         std::uint32_t ended, const MessagePin& message,
                         std::int64_t now_ms) noexcept;

    struct NextResult {
        Status status = Status::Ok;         // Ok, or Gone when uid no longer names the channel
        MessagePin message{};               // the next message, if any; the caller must unpin it
        std::uint64_t kick_before_seq = 0;  // the latest Kick's before_seq (0: none ever)
    };

    // What a worker resyncing after a mailbox overflow needs about one channel it holds waiters
    // on, since the events it lost may have said any of this: whether the channel was deleted
    // (Gone: answer 410), the first stored message after `since` (the subscribe() search),
    // pinned, and which waiters a `last` subscriber has kicked (those with a smaller seq).
    // `slot` is the caller's, so that the pin is given back if it dies holding it; kNoSlot
    // leaves the pin untracked.
    NextResult find_next(std::string_view key, std::uint64_t uid, core::MessageId since,
                         std::int64_t now_ms, int slot = kNoSlot) noexcept;

    // ---- publisher side ----

    struct PublishResult {
        Status status = Status::Ok;
        std::uint64_t uid = 0;
        core::MessageId id{};               // the new message's id
        std::uint64_t wake_slots_mask = 0;  // slots sent a Published event
        ChannelInfo info{};                 // after the publish
    };

    // Creates the channel if absent, gives the message the next id (tag = last tag + 1 within the
    // same second, else 0), stores it if limits.store_messages, trims the queue, and posts
    // Published{uid, pin} to every slot holding waiters (one pin per event). The channel takes
    // `limits`, and a channel made by a subscriber leaves the subscriber share, stored message or
    // not. NoSpace: nothing changed (a channel created for this call is removed again).
    PublishResult publish(std::string_view key, std::string_view content_type,
                          std::string_view event, std::string_view body,
                          const ChannelLimits& limits, std::int64_t now_ms) noexcept;

    struct DeleteResult {
        Status status = Status::Ok;  // Ok or NotFound
        std::uint64_t uid = 0;
        std::uint64_t wake_slots_mask = 0;  // slots sent a Deleted event
        ChannelInfo info{};                 // before the deletion
    };

    // Removes the channel and its messages (pinned ones live on until unpinned) and posts
    // Deleted{uid} to every slot holding waiters or wanting it (want_remote()), once each; their
    // waiters are no longer counted.
    DeleteResult delete_channel(std::string_view key, std::int64_t now_ms) noexcept;

    // The channel's counts, or nullopt if it does not exist. Drops its expired messages first.
    std::optional<ChannelInfo> info(std::string_view key, std::int64_t now_ms) noexcept;

    // The expiry timer's work: drops expired messages and removes channels idle for their
    // channel_timeout. Visits due channels only (O(k log n)); any worker may call it.
    void expire(std::int64_t now_ms) noexcept;

    // ---- Redis mode's cache (doc/shm-layout.md "Redis mode's cache") ----
    // In Redis mode Redis assigns ids and stores messages; the segment caches the channels this
    // node's subscribers use. One process per node, the relay, writes Redis' messages in with the
    // calls below (all but want_remote()); workers read the cache with the subscriber calls
    // above, unchanged, and get Published / Deleted events as for a local publish. A channel is
    // *live* while the relay holds it subscribed and synced: its queue is then gapless, so a
    // subscriber it can answer or hold needs no Redis round trip. The relay calls
    // delete_channel() for a deletion or a generation mismatch (Deleted: 410 to the waiters).

    struct WantResult {
        Status status = Status::Ok;  // Ok or NoSpace (nothing changed)
        std::uint64_t uid = 0;
        bool live = false;   // live already: serve from the cache; nothing was changed
        bool first = false;  // not live, and no slot wanted it before: tell the relay
    };

    // For a worker whose subscriber needs `key` live. Live already: {live, uid}. Otherwise
    // creates the channel if absent (with limits_if_created, as the relay's cache entry, outside
    // the subscriber share; an entry nothing uses expires by channel_timeout like any idle
    // channel), adopts a channel a subscriber made (it is the cache's now), makes sure `slot` has
    // a mailbox and marks `slot` as wanting it: the slot gets one Live{uid} when it turns live.
    // Records the request time as subscribe() does. The slot's own timer bounds its wait: a
    // wanted channel that expires, or is deleted (Deleted is posted to wanted slots too), is
    // forgotten with its wants.
    WantResult want_remote(std::string_view key, int slot, const ChannelLimits& limits_if_created,
                           std::int64_t now_ms) noexcept;

    // For the relay, once it has subscribed to and fetched the channel: creates it if absent (or
    // adopts it), takes `limits`, records generation `gen` and marks it live; if `newest` is
    // later than the channel's last id, the last id becomes `newest` (no message is made: ids go
    // on from Redis'). Posts Live{uid} to every slot that wanted it and returns those slots (the
    // caller writes their eventfds). 0 with nothing posted when the segment cannot take the
    // channel. A death midway may leave the wants in place: the relay's retry posts again. A
    // cached channel of another generation is the relay's to delete first: `gen` replaces it.
    std::uint64_t set_remote_live(std::string_view key, std::uint64_t gen,
                                  std::optional<core::MessageId> newest,
                                  const ChannelLimits& limits, std::int64_t now_ms) noexcept;

    // A message Redis assigned an id to and published (an M frame, or a fetched entry).
    struct RemoteMessage {
        std::string_view key;
        std::uint64_t gen = 0;
        core::MessageId id{};
        std::string_view content_type;
        std::string_view event;
        std::string_view body;
        std::int64_t ttl_ms = 0;  // from now on; 0: never expires
        bool store = true;        // false: delivered to waiters, not kept (store_messages off)
        ChannelLimits limits{};   // the channel's limits from now on, as publish() takes them
        // Redis trimmed every entry before this id: drop them here too. nullopt: no news.
        std::optional<core::MessageId> oldest_kept;
    };

    enum class InsertStatus : std::uint8_t {
        Inserted,
        Duplicate,  // m.id is not later than the channel's last id: nothing changed
        StaleGen,   // the cached channel has another generation: nothing changed
        NoSpace,    // full even after eviction: the channel is unchanged
    };

    struct InsertResult {
        InsertStatus status = InsertStatus::Inserted;
        std::uint64_t uid = 0;
        std::uint64_t wake_slots_mask = 0;  // slots sent a Published event
    };

    // For the relay: publish() with the id Redis gave (the store assigns none). Creates an
    // absent channel not live, with generation m.gen (a channel with none takes m.gen). Stores the
    // message only if m.store, trims by m.limits as publish() does, then drops what Redis
    // trimmed (oldest_kept), and posts Published{uid, pin} to every slot holding waiters. When
    // the segment is full it evicts first: the whole queues of other channels with no waiter,
    // the oldest-created first, each one marked not live (its cache has a gap now), retrying
    // after each; NoSpace once nothing is left to evict (what was evicted stays evicted).
    // O(channels) on that path only.
    InsertResult insert_remote(const RemoteMessage& m, std::int64_t now_ms) noexcept;

    // For the relay (a T frame): drops the stored messages older than `oldest_kept` (nullopt:
    // all of them) when the channel's generation is `gen`; nothing otherwise.
    void trim_remote(std::string_view key, std::uint64_t gen,
                     std::optional<core::MessageId> oldest_kept, std::int64_t now_ms) noexcept;

    struct RemoteState {
        std::uint64_t uid = 0;
        std::uint64_t gen = 0;  // 0: none recorded
        bool live = false;
        std::optional<core::MessageId> newest;  // the channel's last id; nullopt: none yet
        std::uint32_t waiters_total = 0;        // held here, every slot
        std::int64_t last_requested_ms = -1;
        std::uint64_t messages = 0;  // stored
    };

    // The channel's cache state after dropping its expired messages, or nullopt if absent.
    std::optional<RemoteState> remote_state(std::string_view key, std::int64_t now_ms) noexcept;

    // Calls `visit` once per channel, in key order (the relay's resync and lease counts). The
    // store copies channels out in batches under the lock and calls `visit` outside it, so the
    // visitor may call the store; a channel made, removed or changed during the walk may be
    // seen or not, old or new. `messages` counts expired ones not yet dropped. The views live
    // for the call. O(channels log channels). `visit` must not throw; running out of process
    // memory for the batch ends the process (noexcept), as it would a worker.
    void visit_remote(
        const std::function<void(const RemoteState&, std::string_view key)>& visit) noexcept;

    // For the relay when it lost sync on the channel: it is no longer live (a no-op if absent).
    void set_remote_not_live(std::string_view key) noexcept;

    // For the relay (a K frame from another node: a `last` subscriber there): every waiter
    // held here on the channel must go (409), as a local `last` subscriber's Kick does. Returns
    // the slots sent a Kick (0 if the channel is absent or has no waiter).
    std::uint64_t kick_remote(std::string_view key) noexcept;

    // ---- pins ----

    // The pinned message's contents, read without the lock (they are immutable).
    // Precondition: `pin` is set and not yet unpinned.
    MessageView view(const MessagePin& pin) const noexcept;

    // Gives the reference back (freeing the message if it was the last) and clears `pin`.
    // An empty pin is ignored.
    void unpin(MessagePin& pin) noexcept;

    // ---- mailboxes ----

    struct Event {
        // Reset: post_reset() was called (no uid, no pin). Live: channel uid turned live in
        // Redis mode's cache (set_remote_live()); a repeated one is harmless.
        enum Kind : std::uint8_t { Published, Deleted, Kick, Reset, Live };
        Kind kind = Published;
        std::uint64_t uid = 0;         // the channel
        MessagePin message{};          // Published: one pin, owned by whoever holds the event
        std::uint64_t before_seq = 0;  // Kick: waiters with a smaller waiter_seq must go (409)
    };

    // Appends every pending event of `slot` to `out`, oldest first; the caller now owns their
    // pins. `overflowed` is set (and the flag cleared) when events were dropped because the mailbox
    // was full: the worker must then resync every channel it holds waiters on (find_next).
    void drain_mailbox(int slot, std::vector<Event>& out, bool& overflowed) noexcept;

    // ---- slots ----

    // For the master after the worker on `slot` died or exited: zeroes the slot's waiter counts
    // in every channel (O(channels): a rare path), unpins its undrained events, empties its
    // mailbox, gives back every pin the worker took on the slot (drained events, subscribe and
    // find_next results), forgets the slot's wants (want_remote()), its worker and its connection
    // count (Stats::workers, Stats::connections). If the worker died holding the lock, this call
    // repairs the store first (O(channels + messages)), so it never waits on the dead worker.
    // Precondition: no live process still holds pins taken on `slot`.
    void reset_slot(int slot, std::int64_t now_ms) noexcept;

    // ---- server-wide figures (push_stub_status) ----

    // For the master, just before it forks a worker on `slot` (after fork() in either process,
    // a worker already serving could answer a status request that does not count every worker
    // forked); a failed fork() is undone with reset_slot(slot). The slot counts in
    // Stats::workers until reset_slot(slot). Leaves the slot's connection count alone.
    // Returns false, changing nothing, when the slot is taken already: during a binary upgrade
    // two masters share the segment, and each starts workers only in slots it claimed so.
    bool slot_started(int slot) noexcept;

    // For the master, once fork() gave the worker on `slot` its pid; reset_slot() forgets it.
    void set_slot_worker(int slot, std::int32_t pid) noexcept;

    // The pid of the worker on `slot` (0 when its master has not recorded it), or nothing when
    // the slot is free: how a master finds the slots another master's workers hold.
    std::optional<std::int32_t> slot_worker(int slot) noexcept;

    // For the worker on `slot`, whenever its number of open connections changes: records n.
    // Lock-free (a relaxed atomic store), so it is cheap enough for every accept and close.
    void set_connections(int slot, std::uint32_t n) noexcept;

    // For the worker on `slot`, whenever the number of subscribers of `kind` it holds changes:
    // records n. Lock-free, like set_connections.
    void set_held(int slot, core::SubscriberKind kind, std::uint32_t n) noexcept;

    // For the worker on `slot`: whether it accepts new connections (true from its start, false
    // once it stops gracefully). Lock-free, like set_connections.
    void set_accepting(int slot, bool accepting) noexcept;

    // The fewest open connections of any other worker that accepts, or nullopt if there is
    // none: a worker with many more than that leaves new connections to the others. Lock-free
    // relaxed reads: a momentarily stale figure only skews one accept decision.
    std::optional<std::uint32_t> fewest_connections_elsewhere(int slot) const noexcept;

    // For the master, once before it forks the first worker: the server's start time (wall
    // clock, ms), from which status pages compute the uptime.
    void set_started_ms(std::int64_t now_ms) noexcept;

    // For the master, once per completed reload of the configuration.
    void note_reload() noexcept;

    // For a worker, after it published `n` GRIP items (push_grip_publish) with publish(): the
    // store counts them apart from `published` for the status page, which it cannot do alone.
    void count_grip_items(std::uint64_t n) noexcept;
    // For a worker, at each GRIP re-request and each GRIP origin error (a 502 or a cut body):
    // server-wide counters, lock-free (a relaxed atomic add), kept whatever becomes of the worker.
    // Redis mode's figures (core/redis_figures.h), lock-free. `slot` kRelaySlot: the relay's
    // connections; a worker's bit is cleared by reset_slot() too.
    static constexpr int kRelaySlot = -1;
    void count_redis(core::RedisCounter counter, std::uint64_t n = 1) noexcept;
    void set_redis_up(int slot, bool up) noexcept;
    void set_redis_channels(std::uint64_t n) noexcept;
    // The latest Redis message id time (seconds) seen by any process of the node: raised with
    // each id seen, read as the floor of a publish (redis::PublishRequest::id_floor). -1: none.
    void note_redis_id_time(std::int64_t seconds) noexcept;
    std::int64_t redis_id_floor() const noexcept;
    void count_grip_rerequest() noexcept;
    void count_grip_origin_error() noexcept;

    // The subscriber share: the most bytes (footprint: header and key) that channels made by
    // subscribers and not yet published to may take together. Subscribers face the internet;
    // this keeps the rest of the segment for publishing. The master sets it from the conf before
    // it forks workers, and again on reload; until then there is no bound (UINT64_MAX).
    void set_subscriber_share(std::uint64_t bytes) noexcept;

    // ---- sequencing states (doc/shm-layout.md "Sequencing") ----
    // One opaque byte string per key, and the time its owner must next look at it: the GRIP
    // sequencer's per-channel state (push/grip_sequencer.h), which must be one for the whole
    // server whichever worker takes each publish. Steps run one at a time server-wide under the
    // sequencing lock, which is taken before the store's lock: a step may call any other member
    // (publish() above all) but no sequencing member.

    // What a step leaves for its key.
    struct SequenceUpdate {
        bool keep = false;             // false: the key's state is forgotten
        std::string state;             // kept: the new state
        std::int64_t wake_at_ms = 0;   // kept: when sequence_due() must visit it (caller's clock)
        std::uint32_t waiting = 0;     // kept: items waiting in it (Stats::sequence_waiting)
        std::uint32_t duplicates = 0;  // items the step dropped as repeats (a counter)
    };
    // Called with the key and its state ("" for a key with none). The views live for the call.
    using SequenceStep =
        std::function<SequenceUpdate(std::string_view key, std::string_view state)>;

    // Runs `step` on `key`'s state while no other process runs a step, then keeps what it left.
    // NoSpace: the new state did not fit in the segment, and the key's state is forgotten (the
    // step has acted: the old one is stale). A process killed during the step leaves the old
    // state; one killed while its result is stored leaves the old or the new one, whole.
    Status sequence(std::string_view key, const SequenceStep& step);

    // Runs `step`, as sequence() does, on every key whose wake time is at or before `due_ms`
    // (INT64_MAX: every key), earliest first. Returns how many keys it visited. O(due keys) plus
    // their steps; any worker may call it, whichever worker stored the states.
    std::size_t sequence_due(std::int64_t due_ms, const SequenceStep& step);

    // The earliest wake time of any key; INT64_MAX when there is none. Lock-free (a relaxed
    // load), so that every worker's timer can poll it.
    // A copy of `key`'s sequencing state ("" when it has none), read while no step runs.
    std::string sequence_state(std::string_view key);
    std::int64_t next_sequence_wake() const noexcept;

    // Posts a Reset event to every slot that holds a worker and has a mailbox (a slot without one
    // never held a subscriber, so has nothing to refresh) and counts it in Stats::grip_recovers.
    // Returns the slots posted to, for the caller to wake.
    std::uint64_t post_reset() noexcept;

    struct Stats {
        std::uint64_t size = 0;  // segment bytes
        std::uint64_t free = 0;  // bytes the allocator can still hand out
        std::uint64_t channels = 0;
        std::uint64_t messages = 0;     // stored in queues
        std::uint64_t subscribers = 0;  // held waiters
        // Bytes of the channels made by subscribers and not yet published to, and their bound.
        std::uint64_t subscriber_bytes = 0;
        std::uint64_t subscriber_share = 0;
        std::uint64_t published = 0;
        std::uint64_t delivered = 0;
        std::uint64_t grip_items = 0;           // count_grip_items() totals
        std::uint64_t grip_recovers = 0;        // post_reset() calls
        std::uint64_t grip_rerequests = 0;      // count_grip_rerequest() calls
        std::uint64_t grip_origin_errors = 0;   // count_grip_origin_error() calls
        std::uint64_t sequence_keys = 0;        // keys with a sequencing state
        std::uint64_t sequence_waiting = 0;     // SequenceUpdate::waiting summed over them
        std::uint64_t sequence_duplicates = 0;  // SequenceUpdate::duplicates totals
        std::uint64_t lock_recoveries = 0;
        std::uint64_t workers = 0;      // slots between slot_started and reset_slot
        std::uint64_t connections = 0;  // open connections, summed over every slot
        core::SubscriberCounts held{};  // held subscribers by kind, summed over every slot
        std::int64_t started_ms = 0;    // as set_started_ms recorded it; 0: never recorded
        std::uint64_t reloads = 0;      // note_reload calls
        core::RedisFigures redis{};     // count_redis, set_redis_up, set_redis_channels
    };
    // A consistent snapshot: everything but `connections` and `held` (whose per-slot values are
    // each exact but are read one after the other) is taken under the lock.
    Stats stats() const noexcept;

    // ---- diagnostics ----

    // Everything found inconsistent in the store (indexes, counts, claims, the heap), in words;
    // empty when consistent. O(channels + messages) under the lock, and allocates: for tests and
    // diagnostics, not for a request path.
    std::vector<std::string> check() const noexcept;

  private:
    friend struct StoreTestAccess;  // tests/shm: holds the lock to kill its owner

    explicit Store(Root& root) noexcept : root_(&root) {}

    Root* root_;
};

}  // namespace pushrelay::shm
