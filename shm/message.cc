#include "shm/message.h"

#include <cstring>
#include <new>

namespace pushrelay::shm {
namespace {

char* heap_base(const Root& root) {
    return reinterpret_cast<char*>(root.manager.get());
}

}  // namespace

Message* new_message(Root& root, core::MessageId id, std::string_view content_type,
                     std::string_view event, std::string_view body,
                     std::int64_t expires_at_ms) noexcept {
    const std::size_t bytes = sizeof(Message) + content_type.size() + event.size() + body.size();
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
        .refcount = 0,
        .received = 0,
        .loose_pins = 0,
        .event_len = static_cast<std::uint32_t>(event.size()),
        .next = nullptr,
    };
    // Named only once its header is readable: repair() recounts what the intent names.
    root.intent.message = message;
    crash_point();
    char* payload = reinterpret_cast<char*>(message + 1);
    // memcpy from an empty view's null data() is undefined: skip empty parts.
    for (std::string_view part : {content_type, event, body}) {
        if (!part.empty()) {
            std::memcpy(payload, part.data(), part.size());
            payload += part.size();
        }
    }
    return message;
}

core::MessageId id_of(const Message& message) noexcept {
    return core::MessageId{message.time, message.tag};
}

void release_new_message(Root& root, Message& message) noexcept {
    forget_if_unclaimed(root, message);
}

void forget_if_unclaimed(Root& root, Message& message) noexcept {
    // Un-named before the block goes: a death inside deallocate() must not lead repair() to free
    // it twice (it leaks it instead; see doc/shm-layout.md).
    root.intent.message = nullptr;
    if (message.refcount == 0) {
        root.manager->deallocate(&message);
    }
}

std::uint64_t offset_of(const Root& root, const Message& message) noexcept {
    return static_cast<std::uint64_t>(reinterpret_cast<const char*>(&message) - heap_base(root));
}

Message& message_at_offset(const Root& root, std::uint64_t offset) noexcept {
    return *reinterpret_cast<Message*>(heap_base(root) + offset);
}

}  // namespace pushrelay::shm
