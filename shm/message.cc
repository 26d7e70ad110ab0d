#include "shm/message.h"

#include <cstring>
#include <new>

namespace pushrelay::shm {
namespace {

// Pins count from the start of the heap, which precedes every allocation: 0 stays free for
// "no message".
char* heap_base(const Root& root) {
    return reinterpret_cast<char*>(root.manager.get());
}

}  // namespace

Message* new_message(Root& root, MessageId id, std::string_view content_type, std::string_view body,
                     std::int64_t expires_at_ms) noexcept {
    const std::size_t bytes = sizeof(Message) + content_type.size() + body.size();
    void* memory = root.manager->allocate(bytes, std::nothrow);
    if (memory == nullptr) {
        return nullptr;
    }
    auto* message = new (memory) Message{
        .time = id.time,
        .tag = id.tag,
        .content_type_len = static_cast<std::uint32_t>(content_type.size()),
        .body_len = body.size(),
        .expires_at_ms = expires_at_ms,
        .refcount = 1,
        .received = 0,
        .next = nullptr,
    };
    char* payload = reinterpret_cast<char*>(message + 1);
    // memcpy from an empty view's null data() is undefined: skip empty parts.
    if (!content_type.empty()) {
        std::memcpy(payload, content_type.data(), content_type.size());
    }
    if (!body.empty()) {
        std::memcpy(payload + content_type.size(), body.data(), body.size());
    }
    return message;
}

MessagePin pin_message(Root& root, Message& message) noexcept {
    ++message.refcount;
    return MessagePin{
        static_cast<std::uint64_t>(reinterpret_cast<char*>(&message) - heap_base(root))};
}

void unref_message(Root& root, Message& message) noexcept {
    if (--message.refcount == 0) {
        root.manager->deallocate(&message);
    }
}

Message& message_at(const Root& root, const MessagePin& pin) noexcept {
    return *reinterpret_cast<Message*>(heap_base(root) + pin.offset);
}

}  // namespace pushrelay::shm
