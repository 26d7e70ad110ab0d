#include "shm/mailbox.h"

#include <new>

#include "shm/crash_point.h"
#include "shm/message.h"
#include "shm/pins.h"

namespace pushrelay::shm {
namespace {

void post(Root& root, Mailbox& mailbox, Store::Event event, Message* message) {
    if (mailbox.count == kMailboxCapacity) {
        mailbox.overflowed = true;
        return;
    }
    if (message != nullptr) {
        ++message->refcount;
        event.message = MessagePin{offset_of(root, *message)};
    }
    mailbox.events[mailbox.count] = event;
    crash_point();
    ++mailbox.count;
    crash_point();
}

}  // namespace

bool ensure_mailbox(Root& root, int slot) noexcept {
    if (root.mailboxes[slot]) {
        return true;
    }
    void* memory = root.manager->allocate(sizeof(Mailbox), std::nothrow);
    if (memory == nullptr) {
        return false;
    }
    Mailbox* mailbox = new (memory) Mailbox();
    root.intent.mailbox = mailbox;
    crash_point();
    root.mailboxes[slot] = mailbox;
    crash_point();
    root.intent.mailbox = nullptr;
    return true;
}

bool post_to_slot(Root& root, int slot, const Store::Event& event) noexcept {
    Mailbox* mailbox = root.mailboxes[slot].get();
    if (mailbox == nullptr) {
        return false;
    }
    post(root, *mailbox, event, nullptr);
    return true;
}

std::uint64_t post_to_slots(Root& root, std::uint64_t mask, const Store::Event& event) noexcept {
    std::uint64_t posted = 0;
    for (int slot = 0; slot < kMaxWorkerSlots; ++slot) {
        const std::uint64_t bit = std::uint64_t{1} << slot;
        if ((mask & bit) != 0 && post_to_slot(root, slot, event)) {
            posted |= bit;
        }
    }
    return posted;
}

std::uint64_t post_to_waiting_slots(Root& root, const Channel& channel, Store::Event::Kind kind,
                                    std::uint64_t before_seq, Message* message) noexcept {
    std::uint64_t posted = 0;
    if (channel.waiters_total == 0) {
        return posted;
    }
    const Store::Event event{
        .kind = kind, .uid = channel.uid, .message = {}, .before_seq = before_seq};
    for (int slot = 0; slot < kMaxWorkerSlots; ++slot) {
        Mailbox* mailbox = root.mailboxes[slot].get();
        if (channel.waiters[slot] == 0 || mailbox == nullptr) {
            continue;
        }
        post(root, *mailbox, event, message);
        posted |= std::uint64_t{1} << slot;
    }
    return posted;
}

std::uint64_t post_deleted(Root& root, const Channel& channel) noexcept {
    const std::uint64_t waiting =
        post_to_waiting_slots(root, channel, Store::Event::Deleted, 0, nullptr);
    const Store::Event deleted{.kind = Store::Event::Deleted, .uid = channel.uid};
    return waiting | post_to_slots(root, channel.wanted_mask & ~waiting, deleted);
}

void drain(Root& root, int slot, std::vector<Store::Event>& out, bool& overflowed) noexcept {
    Mailbox* mailbox = root.mailboxes[slot].get();
    overflowed = false;
    if (mailbox == nullptr) {
        return;
    }
    // Until count is cleared a drained pin is claimed twice (mailbox and ledger): a death here
    // leaks nothing, since reset_slot() gives back both.
    for (std::uint32_t i = 0; i < mailbox->count; ++i) {
        Store::Event event = mailbox->events[i];
        if (event.message) {
            event.message = hand_over(root, *mailbox, slot, event.message.offset);
            crash_point();
        }
        out.push_back(event);
    }
    overflowed = mailbox->overflowed;
    mailbox->count = 0;
    mailbox->overflowed = false;
}

void clear_mailbox(Root& root, int slot) noexcept {
    Mailbox* mailbox = root.mailboxes[slot].get();
    if (mailbox == nullptr) {
        return;
    }
    // Newest first, each event uncounted before its claim is given up.
    while (mailbox->count > 0) {
        const std::uint32_t last = mailbox->count - 1;
        if (const MessagePin pin = mailbox->events[last].message; pin) {
            drop_claim(root, message_at_offset(root, pin.offset), [&] { mailbox->count = last; });
        } else {
            mailbox->count = last;
        }
    }
    mailbox->overflowed = false;
}

}  // namespace pushrelay::shm
