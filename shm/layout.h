// What lives inside the shared segment: the root, channels, messages and mailboxes. Internal to
// shm/ (the public API is shm/store.h); doc/shm-layout.md describes the same layout in prose.
//
// Every structure here is placed once, at its final address, and reached from every process
// through the same mapping (inherited by fork()). Links are offset_ptrs so that the layout does
// not depend on where the segment is mapped. Nothing here is copied or moved.
//
// Thread safety: every field except the immutable message header and payload, the lock-free
// atomics of ServerFigures, and Root::sequencing (its own lock, below), is read and written only
// with Root::lock held.
// Crash consistency: the fields marked "truth" are changed by single aligned stores, so a process
// killed between any two of its writes leaves them exact; every other field is derived from them
// and rebuilt by repair() (shm/repair.h) when the next locker finds the lock's owner dead.
#pragma once

#include <atomic>
#include <boost/interprocess/indexes/iset_index.hpp>
#include <boost/interprocess/managed_external_buffer.hpp>
#include <boost/interprocess/mem_algo/rbtree_best_fit.hpp>
#include <boost/interprocess/offset_ptr.hpp>
#include <boost/interprocess/sync/mutex_family.hpp>
#include <boost/intrusive/set.hpp>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

#include "shm/lock.h"
#include "shm/store.h"

namespace pushrelay::shm {

// Bumped whenever a structure below changes shape; recorded in the root, checked by Store::open().
// The size pins at the end of this file stop a change of shape from compiling until they are
// updated, and whoever updates them bumps this too.
inline constexpr std::uint32_t kLayoutVersion = 14;

// Where the heap starts in the mapping: past the segment's header (shm/segment.cc), whose shape
// never changes, so that any build finds the root of a segment another build made.
inline constexpr std::size_t kHeapOffset = 64;

// Events a slot can have pending before further ones are dropped (and the slot told to resync).
inline constexpr std::uint32_t kMailboxCapacity = 1024;

// Pins a slot's worker can hold at once and still have them given back if it dies: a full drain
// plus the few a worker takes one at a time (subscribe, find_next). Beyond that, pins are loose.
inline constexpr std::uint32_t kPinLedgerCapacity = kMailboxCapacity + 64;

inline constexpr std::int64_t kNoDeadline = -1;  // Channel::deadline_ms: not in the expiry index
inline constexpr std::int64_t kNotIdle = -1;     // Channel::idle_since_ms

namespace bip = boost::interprocess;
namespace bin = boost::intrusive;

// Our own lock guards the allocator too: a Boost-internal mutex held by a SIGKILLed worker would
// never be released.
using ManagedBuffer =
    bip::basic_managed_external_buffer<char, bip::rbtree_best_fit<bip::null_mutex_family>,
                                       bip::iset_index>;
using SegmentManager = ManagedBuffer::segment_manager;

using Hook = bin::set_member_hook<bin::void_pointer<bip::offset_ptr<void>>,
                                  bin::link_mode<bin::normal_link>>;

// One allocation: this header, then content_type_len bytes of content type, event_len bytes of
// EventSource event name (X-EventSource-Event), then body_len bytes of body. Header fields above
// `refcount` and the payload never change after publish, which is what lets a pin holder read them
// without the lock.
struct Message {
    // The id (id_of() in shm/message.h), in two fields rather than one core::MessageId so that
    // content_type_len fills what would be the id's padding.
    std::int64_t time;
    std::uint32_t tag;
    std::uint32_t content_type_len;
    std::uint64_t body_len;
    std::int64_t expires_at_ms;  // 0: never
    std::uint32_t refcount;      // claims: queued, each mailbox event, ledger entry and loose pin
    std::uint32_t received;      // saturating
    std::uint32_t loose_pins;    // truth: pins held outside every slot's ledger
    std::uint32_t event_len;     // fills what would be padding
    bip::offset_ptr<Message> next;  // truth: the next newer message while queued

    const char* content_type() const { return reinterpret_cast<const char*>(this + 1); }
    const char* event() const { return content_type() + content_type_len; }
    const char* body() const { return event() + event_len; }
};
// Freed with a bare deallocate: no destructor may be owed.
static_assert(std::is_trivially_destructible_v<Message>);
// The payload starts right after the header; the allocator aligns blocks for any scalar.
static_assert(alignof(Message) <= alignof(std::max_align_t));

// One allocation: this header, then key_len bytes of key.
struct Channel {
    Hook by_key;       // Root::channels (derived from Root::channel_list)
    Hook by_deadline;  // Root::deadlines, while deadline_ms != kNoDeadline (derived)
    bip::offset_ptr<Channel> next_in_list;  // truth: Root::channel_list
    bip::offset_ptr<Channel> prev_in_list;  // derived from next_in_list
    std::uint64_t uid;
    std::int64_t deadline_ms;    // the key in Root::deadlines
    std::int64_t idle_since_ms;  // since when it has had no message and no waiter
    std::int64_t last_requested_ms;
    // Id of the last message ever published here (last_id_of()); last_time -1: none yet. Two
    // fields for the same reason as Message's.
    std::int64_t last_time;
    std::uint32_t last_tag;
    std::uint32_t key_len;
    bip::offset_ptr<Message> oldest;  // truth: the queue is the chain from here
    bip::offset_ptr<Message> newest;  // derived from the chain
    std::uint64_t message_count;      // derived from the chain
    // Derived: at most the expiry of every straggler, a queued message that expires before an
    // older one (published with a shorter push_message_timeout); 0 while there is none, which is
    // when dropping expired messages from the oldest end is enough. See shm/channel.h.
    std::int64_t straggler_expiry_ms;
    std::uint64_t waiter_seq;       // sequence of the last registered waiter
    std::uint64_t kick_before_seq;  // of the latest Kick, for workers that lost it (0: none)
    std::uint64_t waiters_total;    // derived: sum of waiters[]
    std::uint32_t waiters[kMaxWorkerSlots];  // truth
    // Truth: created by a subscriber and never published to. Such a channel exists only for its
    // waiters: it is removed as soon as it has none, and its bytes count against
    // Root::subscriber_share (shm/channel.h, "The subscriber share").
    bool made_by_subscriber;
    // Redis mode's cache (store.h, "Redis mode's cache"; layout version 11), all truth. Live: the
    // relay holds the channel subscribed and synced, so its queue is gapless from the oldest
    // message on. Cleared by one store before anything makes the queue incomplete.
    bool remote_live;
    ChannelLimits limits;
    std::uint64_t remote_gen;   // the Redis generation the cache entry belongs to; 0: none
    std::uint64_t wanted_mask;  // slots waiting for the channel to turn live; each has a mailbox

    std::string_view key() const { return {reinterpret_cast<const char*>(this + 1), key_len}; }
};
static_assert(alignof(Channel) <= alignof(std::max_align_t));

struct ChannelKeyLess {
    bool operator()(const Channel& a, const Channel& b) const { return a.key() < b.key(); }
    bool operator()(std::string_view a, const Channel& b) const { return a < b.key(); }
    bool operator()(const Channel& a, std::string_view b) const { return a.key() < b; }
};

// (deadline, uid): unique per channel, so a channel can find and unlink its own entry.
struct ChannelDeadlineLess {
    bool operator()(const Channel& a, const Channel& b) const {
        return a.deadline_ms != b.deadline_ms ? a.deadline_ms < b.deadline_ms : a.uid < b.uid;
    }
};

using ChannelsByKey = bin::set<Channel, bin::member_hook<Channel, Hook, &Channel::by_key>,
                               bin::compare<ChannelKeyLess>, bin::constant_time_size<false>>;
using ChannelsByDeadline =
    bin::set<Channel, bin::member_hook<Channel, Hook, &Channel::by_deadline>,
             bin::compare<ChannelDeadlineLess>, bin::constant_time_size<false>>;

// Pending events for one slot, oldest first, allocated the first time the slot holds a waiter
// (only slots with waiters are ever posted to) and kept for whichever worker takes the slot next.
// A drain always takes every event, so this is a plain array, not a ring: posts append at `count`.
//
// It also holds the slot's pin ledger: the message offset of every pin the slot's worker holds
// (0: a free entry), so that reset_slot() can give back the pins of a worker that died. A pin
// handed out carries its entry's number (shm/pins.h).
struct Mailbox {
    std::uint32_t count;  // truth: events[0, count) are pending, each with its pin's claim
    bool overflowed;
    Store::Event events[kMailboxCapacity];
    std::uint64_t held[kPinLedgerCapacity];  // truth: each nonzero entry is a claim
    std::uint32_t next_free_hint;            // where the search for a free entry starts
};
// Events are written into the mailbox and copied out to a worker's vector as plain bytes.
static_assert(std::is_trivially_copyable_v<Store::Event>);
// doc/shm-layout.md quotes the mailbox size: kMailboxCapacity * 32 bytes per slot in use.
static_assert(sizeof(Store::Event) == 32);

// Totals reported by Store::stats(). Each counter is changed in exactly one helper (or, for
// subscriber_bytes, the three that make, destroy and adopt a channel). The first four are derived
// (repair recounts them); published and delivered may miss the increment of an operation whose
// process was killed.
struct Counters {
    std::uint64_t channels = 0;     // create_channel / destroy_channel
    std::uint64_t messages = 0;     // enqueue / drop_oldest
    std::uint64_t subscribers = 0;  // add_waiter / remove_waiters
    // footprint_of() summed over the channels made_by_subscriber: create_channel /
    // destroy_channel / adopt_channel
    std::uint64_t subscriber_bytes = 0;
    std::uint64_t published = 0;  // Store::publish
    std::uint64_t delivered = 0;  // count_receipts
    // Store::count_grip_items: items push_grip_publish sent on (a plain number to the store,
    // which cannot tell them from other unstored messages); layout version 8.
    std::uint64_t grip_items = 0;
    // Store::post_sequence_reset: POST …/recover calls so far (layout version 8; since version
    // 10 only a figure: the reset reaches every worker as an event).
    std::uint64_t grip_recovers = 0;
};

// Server-wide figures beyond the store's own counters, for push_stub_status.
struct ServerFigures {
    // Open connections per slot, stored by the slot's worker on every accept and close. Written
    // without the lock (that would be one more lock round per connection) and read with relaxed
    // loads: each value is only a gauge, and nothing else is ordered by it.
    std::atomic<std::uint32_t> connections[kMaxWorkerSlots] = {};
    // Whether the slot's worker accepts connections (false once it stops gracefully), written
    // and read like `connections`: workers balance their accepts on these two.
    std::atomic<bool> accepting[kMaxWorkerSlots] = {};
    // Held subscribers per slot and core::SubscriberKind, written and read like `connections`.
    std::atomic<std::uint32_t> held[kMaxWorkerSlots][core::kSubscriberKinds] = {};
    // GRIP re-requests and origin errors (502s, cut bodies), every worker together: counters that
    // a dying worker must not take back, so one each for the server rather than per slot; added
    // to lock-free like `connections` (layout version 10).
    std::atomic<std::uint64_t> grip_rerequests = 0;
    std::atomic<std::uint64_t> grip_origin_errors = 0;
    // Redis mode's figures (core/redis_figures.h), added to lock-free like the GRIP counters by
    // the workers and the relay; whose connection is up (a bit per worker slot, and the relay's
    // flag); the relay's subscribed channels (layout version 12).
    std::atomic<std::uint64_t> redis_counters[core::kRedisCounters] = {};
    std::atomic<std::uint64_t> redis_workers_up = 0;
    std::atomic<bool> redis_relay_up = false;
    std::atomic<std::uint64_t> redis_channels = 0;
    // The latest Redis message id time (seconds) any process of the node has seen (-1: none):
    // the floor publishes pass, so that ids never go back after Redis loses its data.
    std::atomic<std::int64_t> redis_id_floor = -1;
    bool present[kMaxWorkerSlots] = {};  // a worker runs on the slot (slot_started .. reset_slot)
    // The pid of the slot's worker (0 until its master forked it), so that a master which inherits
    // another master's workers when that one dies can tell their slots (layout version 14).
    std::int32_t worker_pid[kMaxWorkerSlots] = {};
    std::int64_t started_ms = 0;  // when the master started the server; 0: not recorded
    std::uint64_t reloads = 0;
};
// Two processes write and read the same counter through the shared mapping: only a lock-free
// atomic is also address-free (it keeps no lock in the process that created it), which is what
// makes it valid across processes ([atomics.lockfree]).
static_assert(std::atomic<std::uint32_t>::is_always_lock_free,
              "ServerFigures::connections is shared between processes without a lock");
static_assert(std::atomic<bool>::is_always_lock_free,
              "ServerFigures::accepting is shared between processes without a lock");
static_assert(std::atomic<std::uint64_t>::is_always_lock_free,
              "ServerFigures::grip_rerequests is shared between processes without a lock");

// One key's sequencing state (Store::sequence): one allocation, this header, then key_len bytes
// of key, then state_len bytes of state, opaque to shm/. Immutable once listed: a step replaces
// the whole record, so a reader holding Sequencing::lock always sees a whole state.
struct SeqRecord {
    Hook by_key;                              // Sequencing::by_key (derived)
    Hook by_wake;                             // Sequencing::by_wake (derived)
    bip::offset_ptr<SeqRecord> next_in_list;  // truth: Sequencing::list
    bip::offset_ptr<SeqRecord> prev_in_list;  // derived from next_in_list
    std::int64_t wake_at_ms;                  // when sequence_due() must visit it
    std::uint64_t state_len;
    std::uint32_t key_len;
    std::uint32_t waiting;  // items waiting in the state, as its step said (a status figure)

    std::string_view key() const { return {reinterpret_cast<const char*>(this + 1), key_len}; }
    std::string_view state() const {
        return {reinterpret_cast<const char*>(this + 1) + key_len, state_len};
    }
};
static_assert(alignof(SeqRecord) <= alignof(std::max_align_t));

struct SeqKeyLess {
    bool operator()(const SeqRecord& a, const SeqRecord& b) const { return a.key() < b.key(); }
    bool operator()(std::string_view a, const SeqRecord& b) const { return a < b.key(); }
    bool operator()(const SeqRecord& a, std::string_view b) const { return a.key() < b; }
};

// (wake, address): unique per record, so a record can find and unlink its own entry.
struct SeqWakeLess {
    bool operator()(const SeqRecord& a, const SeqRecord& b) const {
        return a.wake_at_ms != b.wake_at_ms ? a.wake_at_ms < b.wake_at_ms : &a < &b;
    }
};

using SeqByKey = bin::set<SeqRecord, bin::member_hook<SeqRecord, Hook, &SeqRecord::by_key>,
                          bin::compare<SeqKeyLess>, bin::constant_time_size<false>>;
using SeqByWake = bin::set<SeqRecord, bin::member_hook<SeqRecord, Hook, &SeqRecord::by_wake>,
                           bin::compare<SeqWakeLess>, bin::constant_time_size<false>>;

// The sequencing states (shm/sequencing.h; doc/shm-layout.md "Sequencing"). Its own robust lock
// serialises the steps of every process, and is taken before Root::lock, never after it: a step
// publishes (which takes Root::lock) while it holds this one. A record is replaced, added or
// removed with both locks held (the heap is Root::lock's), so the derived fields below change only
// then; a reader needs `lock` alone.
struct Sequencing {
    RobustMutex lock;
    bip::offset_ptr<SeqRecord> list;  // truth: every record, newest first
    SeqByKey by_key;                  // derived from list
    SeqByWake by_wake;                // derived from list
    // Derived: by_wake's first wake_at_ms, INT64_MAX with no record. Stored while both locks are
    // held and read with no lock at all (relaxed): a worker's timer polls it to find due states
    // whichever worker made them.
    std::atomic<std::int64_t> next_wake_ms = INT64_MAX;
    std::uint64_t records = 0;     // derived: the list's length
    std::uint64_t waiting = 0;     // derived: SeqRecord::waiting summed
    std::uint64_t duplicates = 0;  // what steps said they dropped as repeats, since the start
    // The intent of a replacement: `adding` is built and maybe listed, `removing` is to go once
    // `adding` (if any) is listed. Each one aligned store; read by repair_sequencing().
    bip::offset_ptr<SeqRecord> adding;
    bip::offset_ptr<SeqRecord> removing;
};
static_assert(std::atomic<std::int64_t>::is_always_lock_free,
              "Sequencing::next_wake_ms is read by every process without a lock");

// What the lock holder is in the middle of, for repair() should it be killed: the blocks that a
// death could leave unreachable (and so leaked) or half created or half destroyed. Written before
// the step it covers and cleared after it; each field is one aligned store.
struct Intent {
    enum ChannelStep : std::uint32_t { None, Creating, Destroying };
    bip::offset_ptr<Channel> channel;  // Creating: not yet, or just, linked; Destroying: rolled on
    ChannelStep channel_step = None;
    bip::offset_ptr<Message> message;  // its claims are changing: recounted, freed if unclaimed
    bip::offset_ptr<Mailbox> mailbox;  // allocated, maybe not yet in Root::mailboxes
};

// The one object Segment::create() places first in the segment.
struct Root {
    std::uint32_t layout_version = kLayoutVersion;
    RobustMutex lock;
    bip::offset_ptr<SegmentManager> manager;  // also the base of every MessagePin offset
    bip::offset_ptr<Channel> channel_list;    // truth: every channel, newest first
    ChannelsByKey channels;                   // derived from channel_list
    ChannelsByDeadline deadlines;             // derived from channel_list
    std::uint64_t next_uid = 1;
    Counters counters;
    ServerFigures server;
    bip::offset_ptr<Mailbox> mailboxes[kMaxWorkerSlots];  // truth
    Intent intent;
    std::int64_t last_now_ms = 0;  // the latest now_ms passed in: repair's clock
    // The most bytes subscriber-made channels may take (Store::set_subscriber_share; the master
    // sets it from push_max_subscriber_memory). Configuration, not state: repair leaves it alone.
    std::uint64_t subscriber_share = UINT64_MAX;
    Sequencing sequencing;  // layout version 10
};
// A slot mask has one bit per slot.
static_assert(kMaxWorkerSlots <= 64);
// Store::open() reads the version of a root laid out by any build before it trusts anything else
// in it, so the field stays first, whatever the version.
static_assert(offsetof(Root, layout_version) == 0);

// ---- size pins ----
// Every structure that lives in the segment, at its size in the x86-64 glibc ABI the server is
// built and tested for (pthread_mutex_t's size differs elsewhere, so other targets build without
// these). A segment holds these bytes: a change of any size changes what a Store must find there,
// so updating a number below goes with bumping kLayoutVersion in the same commit. A change that
// keeps every size (two fields swapped, a field's meaning) needs the bump too; these cannot see it.
#if defined(__x86_64__) && defined(__GLIBC__)
static_assert(sizeof(Message) == 56, "Message changed shape: bump kLayoutVersion");
static_assert(sizeof(Channel) == 504, "Channel changed shape: bump kLayoutVersion");
static_assert(sizeof(ChannelLimits) == 40, "ChannelLimits changed shape: bump kLayoutVersion");
static_assert(sizeof(Hook) == 32, "the channel index hooks changed shape: bump kLayoutVersion");
static_assert(sizeof(MessagePin) == 8, "MessagePin changed shape: bump kLayoutVersion");
static_assert(sizeof(Mailbox) == 41488,
              "Mailbox (events and pin ledger) changed shape: bump kLayoutVersion");
static_assert(sizeof(Counters) == 64, "Counters changed shape: bump kLayoutVersion");
static_assert(sizeof(ServerFigures) == 2560, "ServerFigures changed shape: bump kLayoutVersion");
static_assert(sizeof(Intent) == 32, "Intent changed shape: bump kLayoutVersion");
static_assert(sizeof(RobustMutex) == 48, "RobustMutex changed shape: bump kLayoutVersion");
static_assert(sizeof(ChannelsByKey) == 32 && sizeof(ChannelsByDeadline) == 32,
              "the channel indexes changed shape: bump kLayoutVersion");
static_assert(sizeof(SeqRecord) == 104, "SeqRecord changed shape: bump kLayoutVersion");
static_assert(sizeof(Sequencing) == 168, "Sequencing changed shape: bump kLayoutVersion");
static_assert(sizeof(Root) == 3496, "Root changed shape: bump kLayoutVersion");
#endif

}  // namespace pushrelay::shm
