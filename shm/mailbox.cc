#include "shm/mailbox.h"

#include <new>

#include "shm/message.h"

namespace pushrelay::shm {
namespace {

void post(Root& root, Mailbox& mailbox, Store::Event event, Message* message) {
    if (mailbox.count == kMailboxCapacity) {
        mailbox.overflowed = true;
        return;
    }
    if (message != nullptr) {
        event.message = pin_message(root, *message);
    }
    mailbox.events[mailbox.count++] = event;
}

void empty(Mailbox& mailbox) {
    mailbox.count = 0;
    mailbox.overflowed = false;
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
    root.mailboxes[slot] = new (memory) Mailbox();
    return true;
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

void drain(Root& root, int slot, std::vector<Store::Event>& out, bool& overflowed) noexcept {
    Mailbox* mailbox = root.mailboxes[slot].get();
    overflowed = false;
    if (mailbox == nullptr) {
        return;
    }
    out.insert(out.end(), mailbox->events, mailbox->events + mailbox->count);
    overflowed = mailbox->overflowed;
    empty(*mailbox);
}

void clear_mailbox(Root& root, int slot) noexcept {
    Mailbox* mailbox = root.mailboxes[slot].get();
    if (mailbox == nullptr) {
        return;
    }
    for (std::uint32_t i = 0; i < mailbox->count; ++i) {
        if (const MessagePin& pin = mailbox->events[i].message; pin) {
            unref_message(root, message_at(root, pin));
        }
    }
    empty(*mailbox);
}

}  // namespace pushrelay::shm
