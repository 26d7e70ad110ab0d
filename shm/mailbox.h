// The per-slot mailboxes: fixed-size event arrays in the segment, each with the slot's pin ledger
// (shm/pins.h). Internal to shm/.
//
// Every function here must be called with Root::lock held.
// Invariant: a slot that holds waiters on any channel has a mailbox (subscribe allocates it before
// registering the first waiter), so posting never allocates and never fails for lack of space;
// a full mailbox drops the event and sets the slot's overflow flag instead.
// Crash consistency: an event is written first and counted (Mailbox::count) after, so the count
// always covers whole events and their pins' claims.
#pragma once

#include <cstdint>
#include <vector>

#include "shm/layout.h"

namespace pushrelay::shm {

// The slot's mailbox and ledger, allocated on first use; false when the segment is full.
bool ensure_mailbox(Root& root, int slot) noexcept;

// Posts an event of `kind` about `channel` to every slot holding waiters on it; Published events
// each carry their own claim on `message`. Returns the slots posted to, including those whose
// mailbox was full (they must still be woken, to resync).
std::uint64_t post_to_waiting_slots(Root& root, const Channel& channel, Store::Event::Kind kind,
                                    std::uint64_t before_seq, Message* message) noexcept;

// Posts Deleted{uid} to every slot holding waiters on the channel or wanting it (Redis mode's
// cache: Channel::wanted_mask), once each. Returns the slots posted to.
std::uint64_t post_deleted(Root& root, const Channel& channel) noexcept;

// Posts `event`, which carries no message, to `slot` if the slot has a mailbox (a full one sets
// its overflow flag). Returns whether it has one.
bool post_to_slot(Root& root, int slot, const Store::Event& event) noexcept;

// Posts `event`, which carries no message, to every slot in `mask` that has a mailbox. Returns
// the slots posted to (a full mailbox's included: it must still be woken, to resync).
std::uint64_t post_to_slots(Root& root, std::uint64_t mask, const Store::Event& event) noexcept;

// Moves the slot's pending events to `out`, their claims to the slot's ledger, and reads-and-clears
// its overflow flag.
// Precondition: out has room for kMailboxCapacity more events without reallocating.
void drain(Root& root, int slot, std::vector<Store::Event>& out, bool& overflowed) noexcept;

// Gives back the claims of the slot's pending events, empties it and clears its flag.
void clear_mailbox(Root& root, int slot) noexcept;

}  // namespace pushrelay::shm
