// Channels in the segment: their lifetime, message queue, waiter counts, trimming and place in the
// expiry index. Internal to shm/; the policy these implement is described in store.h.
//
// Every function here must be called with Root::lock held.
// Crash consistency: a channel is linked into Root::channel_list (the truth repair() rebuilds both
// indexes from) before it is indexed, and unlinked after it is unindexed; creation and destruction
// are named in Root::intent for their whole length.
// The subscriber share: a channel a subscriber creates (to wait on it) is made_by_subscriber until
// a publish reaches it. Until then it exists only for its waiters, so it is removed as soon as it
// has none (settle_or_remove()), and its footprint counts in Root::counters.subscriber_bytes,
// which Store::subscribe() keeps within Root::subscriber_share. This is what stops subscribers,
// who face the internet, from filling the segment publishing needs.
// Invariants (restored by settle() at the end of every store operation that touches a channel):
// - message_count is the length of the oldest..newest list; waiters_total is the sum of waiters[];
// - idle_since_ms != kNotIdle exactly when the channel has no message and no waiter;
// - straggler_expiry_ms is at most the expiry of every straggler (a message that expires before
//   an older one), and 0 only when there is none;
// - the channel is in Root::deadlines, keyed deadline_ms, exactly when it has a next deadline:
//   the earliest of the oldest message's expiry and straggler_expiry_ms, or (idle)
//   idle_since_ms + channel_timeout_ms, or just idle_since_ms when made_by_subscriber (such a
//   channel is normally removed before it is settled idle; after a repair, expire() removes it);
// - subscriber_bytes is footprint_of() summed over the channels made_by_subscriber.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "shm/layout.h"

namespace pushrelay::shm {

// ---- lifetime ----

enum class Creator : bool { Publisher, Subscriber };

// Creates, registers and indexes an empty channel with a fresh uid; nullptr when the segment is
// full. One made by a Subscriber is made_by_subscriber and counts in subscriber_bytes.
Channel* create_channel(Root& root, std::string_view key, const ChannelLimits& limits,
                        std::int64_t now_ms, Creator creator) noexcept;

// The bytes a channel with this key takes in the subscriber share: its block, header and key
// (the allocator's own few bytes per block are not counted).
std::uint64_t footprint_of(std::string_view key) noexcept;

// A publish reached the channel: it is no longer made_by_subscriber (a no-op if it never was),
// leaves the subscriber share and from now on lives by push_channel_timeout like any other.
void adopt_channel(Root& root, Channel& channel) noexcept;

// Unlinks and frees the channel, dropping its messages (pinned ones live on) and its waiters.
void destroy_channel(Root& root, Channel& channel) noexcept;

// Names the channel in Root::intent as being destroyed, so that a death from here on (while its
// Deleted events are posted, say) ends with the destruction completed by repair().
void begin_destroying(Root& root, Channel& channel) noexcept;

// Whether the channel is in Root::channel_list. O(channels): for repair() and check() only.
bool is_listed(const Root& root, const Channel& channel) noexcept;

// nullptr if absent.
Channel* find_channel(Root& root, std::string_view key) noexcept;

// nullptr if absent or if `uid` names an earlier channel that has since been deleted.
Channel* find_channel(Root& root, std::string_view key, std::uint64_t uid) noexcept;

// ---- messages ----

// The id of the last message ever published on the channel (time -1: none yet), stored or not.
core::MessageId last_id_of(const Channel& channel) noexcept;

// The id the next message published at now_ms gets. Never goes backwards: a clock stepped back
// keeps the last second (and counts tags up) so that subscribers' searches stay correct.
core::MessageId next_message_id(const Channel& channel, std::int64_t now_ms) noexcept;

// Appends to the queue, which takes its own reference, and notes whether it may be a straggler.
void enqueue(Root& root, Channel& channel, Message& message) noexcept;

// The first queued message after `since` (compat search), or the oldest when since is nullopt;
// nullptr if none.
Message* find_after(const Channel& channel, const std::optional<core::MessageId>& since) noexcept;
// The Nth oldest stored message (N > 0) or the |N|th newest (N < 0); the oldest when fewer
// are stored (or N is 0).
Message* find_nth(const Channel& channel, std::int32_t n) noexcept;

// After a publish: max_buffer, then min_recipients (see ChannelLimits).
void trim_after_publish(Root& root, Channel& channel) noexcept;

// Drops the queued messages older than `oldest_kept` (nullopt: every one), whatever min_buffer
// says: Redis mode's cache follows what Redis trimmed or what must be evicted.
void drop_before(Root& root, Channel& channel,
                 const std::optional<core::MessageId>& oldest_kept) noexcept;

// Drops every message whose expiry has come, wherever it is in the queue and whatever min_buffer
// says (push_message_timeout beats the minimum length): called before anything reads the queue,
// it is why an expired message is never served or counted. O(dropped) while the queue expires in
// order; a walk of the queue once a straggler may have expired.
void drop_expired(Root& root, Channel& channel, std::int64_t now_ms) noexcept;

// The exact value straggler_expiry_ms bounds: the earliest expiry of a straggler, 0 if there is
// none. O(queue length): for drop_expired()'s walk, repair() and check().
std::int64_t earliest_straggler_expiry(const Channel& channel) noexcept;

// Counts n receipts of `message` and n deliveries; then, if `channel` (may be null) asks for it,
// drops its oldest message once received (delete_oldest_received).
void count_receipts(Root& root, Channel* channel, Message& message, std::uint32_t n) noexcept;

// ---- waiters ----

// Registers one waiter on `slot`; returns its sequence number.
std::uint64_t add_waiter(Root& root, Channel& channel, int slot) noexcept;

// Forgets up to n waiters of `slot` (never more than it has).
void remove_waiters(Root& root, Channel& channel, int slot, std::uint32_t n) noexcept;

// ---- expiry ----

// Marks the channel as just used: if it is idle after this operation, its idle time counts from
// now (a request on an idle channel postpones its removal, as the module did).
void restart_idle_clock(Channel& channel) noexcept;

// Restores the idle and deadline invariants after a change (see the top of this file).
void settle(Root& root, Channel& channel, std::int64_t now_ms) noexcept;

// The channel under `key` as a reader must see it, its expired messages dropped and settled, or
// null when absent. Under the store lock.
Channel* find_current(Root& root, std::string_view key, std::int64_t now_ms) noexcept;

// For operations that may take a channel's last waiter away: destroys the channel if it is
// made_by_subscriber and has no waiter left (nothing else keeps it), else settle()s it. Returns
// false if it was destroyed: `channel` is then gone.
bool settle_or_remove(Root& root, Channel& channel, std::int64_t now_ms) noexcept;

bool is_idle(const Channel& channel) noexcept;

// The deadline settle() would index the channel under (kNoDeadline: none), for check().
std::int64_t next_deadline_of(const Channel& channel) noexcept;

ChannelInfo info_of(const Channel& channel) noexcept;

}  // namespace pushrelay::shm
