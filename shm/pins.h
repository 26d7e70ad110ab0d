// Pins: the references on messages that workers hold outside the lock, and the per-slot ledger
// (Mailbox::held) through which reset_slot() gives back the pins of a worker that died. Internal
// to shm/.
//
// A pin's value is the message's offset from the heap's start in its low kPinOffsetBits bits and,
// above them, its ledger ticket: slot * kPinLedgerCapacity + entry + 1, or 0 for a loose pin (one
// taken without a slot, or when the slot's ledger was full; counted in Message::loose_pins, and
// leaked if its holder dies). The ticket lets unpin clear its entry in O(1).
//
// Every function but pinned_message() must be called with Root::lock held.
#pragma once

#include <cstdint>

#include "shm/layout.h"

namespace pushrelay::shm {

// Offsets need fewer bits than this: a segment is far below 16 TiB.
inline constexpr int kPinOffsetBits = 44;
// Every ticket must fit above the offset.
static_assert(std::uint64_t{kMaxWorkerSlots} * kPinLedgerCapacity <
              (std::uint64_t{1} << (64 - kPinOffsetBits)));

// Adds a claim on `message` for the caller on `slot` and returns it as a pin. With kNoSlot, or when
// the slot has no ledger and none can be allocated, or its ledger is full, the pin is loose.
MessagePin take_pin(Root& root, Message& message, int slot) noexcept;

// The claim of a drained event (a pin at `offset`, held by `slot`'s mailbox) becomes the worker's:
// entered in the slot's ledger, or loose when it is full. Returns the pin to hand out. The
// mailbox's own claim is the caller's to clear.
MessagePin hand_over(Root& root, Mailbox& mailbox, int slot, std::uint64_t offset) noexcept;

// Gives one pin back, freeing the message with its last claim. A ledger pin whose entry no longer
// holds it (reset_slot() already gave it back) is ignored.
void give_back(Root& root, const MessagePin& pin) noexcept;

// Gives back every pin in the ledger of `mailbox` (reset_slot(): its worker is gone).
void give_back_all(Root& root, Mailbox& mailbox) noexcept;

// The message a pin refers to. No lock needed (it only computes an address).
// Precondition: the pin is set and still held.
Message& pinned_message(const Root& root, const MessagePin& pin) noexcept;

}  // namespace pushrelay::shm
