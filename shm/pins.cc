#include "shm/pins.h"

#include <optional>

#include "shm/mailbox.h"
#include "shm/message.h"

namespace pushrelay::shm {
namespace {

constexpr std::uint64_t kOffsetMask = (std::uint64_t{1} << kPinOffsetBits) - 1;

MessagePin ledger_pin(std::uint64_t offset, int slot, std::uint32_t entry) {
    const std::uint64_t ticket = std::uint64_t(slot) * kPinLedgerCapacity + entry + 1;
    return MessagePin{offset | (ticket << kPinOffsetBits)};
}

// A free entry now holding `offset`, or nullopt when the ledger is full. The search starts after
// the last entry taken: a worker gives its pins back in about the order it took them, so this is
// O(1) but for a ledger nearly full of leaked pins.
std::optional<std::uint32_t> enter(Mailbox& mailbox, std::uint64_t offset) {
    for (std::uint32_t k = 0; k < kPinLedgerCapacity; ++k) {
        const std::uint32_t entry = (mailbox.next_free_hint + k) % kPinLedgerCapacity;
        if (mailbox.held[entry] == 0) {
            mailbox.held[entry] = offset;
            mailbox.next_free_hint = (entry + 1) % kPinLedgerCapacity;
            return entry;
        }
    }
    return std::nullopt;
}

}  // namespace

MessagePin take_pin(Root& root, Message& message, int slot) noexcept {
    const std::uint64_t offset = offset_of(root, message);
    if (slot != kNoSlot && ensure_mailbox(root, slot)) {
        if (auto entry = enter(*root.mailboxes[slot], offset)) {
            crash_point();
            ++message.refcount;
            return ledger_pin(offset, slot, *entry);
        }
    }
    ++message.loose_pins;
    crash_point();
    ++message.refcount;
    return MessagePin{offset};
}

MessagePin hand_over(Root& root, Mailbox& mailbox, int slot, std::uint64_t offset) noexcept {
    if (auto entry = enter(mailbox, offset)) {
        return ledger_pin(offset, slot, *entry);
    }
    ++message_at_offset(root, offset).loose_pins;
    return MessagePin{offset};
}

void give_back(Root& root, const MessagePin& pin) noexcept {
    const std::uint64_t offset = pin.offset & kOffsetMask;
    const std::uint64_t ticket = pin.offset >> kPinOffsetBits;
    Message& message = message_at_offset(root, offset);
    if (ticket == 0) {
        drop_claim(root, message, [&] { --message.loose_pins; });
        return;
    }
    const auto slot = static_cast<int>((ticket - 1) / kPinLedgerCapacity);
    const auto entry = static_cast<std::uint32_t>((ticket - 1) % kPinLedgerCapacity);
    Mailbox* mailbox = root.mailboxes[slot].get();
    if (mailbox == nullptr || mailbox->held[entry] != offset) {
        return;
    }
    drop_claim(root, message, [&] { mailbox->held[entry] = 0; });
}

void give_back_all(Root& root, Mailbox& mailbox) noexcept {
    for (std::uint64_t& held : mailbox.held) {
        if (held != 0) {
            drop_claim(root, message_at_offset(root, held), [&] { held = 0; });
        }
    }
}

Message& pinned_message(const Root& root, const MessagePin& pin) noexcept {
    return message_at_offset(root, pin.offset & kOffsetMask);
}

}  // namespace pushrelay::shm
