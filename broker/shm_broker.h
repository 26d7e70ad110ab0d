// broker/shm_broker.h — the Broker over the shared segment (shm::Store) that every worker of one
// server maps.
//
// Waiters are counted in the store per worker slot; a publish posts events into the mailboxes of
// the slots holding waiters, and this broker wakes those workers through their eventfds. When
// woken, dispatch_events() drains this slot's mailbox: each Published event carries a pin on the
// message, held while the listener delivers it (as long as a copy of the Message it was handed
// lives, see broker::Message::receipt_hold) and given back after. Copies must not outlive the
// broker.
#pragma once

#include <ev.h>

#include <array>
#include <functional>
#include <vector>

#include "broker/broker.h"
#include "core/worker_context.h"
#include "shm/store.h"

namespace pushrelay::broker {

class ShmBroker final : public Broker {
  public:
    // `store`, the eventfds and the loop outlive the broker. `slot` is this worker's.
    ShmBroker(shm::Store& store, int slot, const std::array<int, core::kMaxWorkerSlots>& wake_fds,
              struct ev_loop* loop);

    PublishResult publish(std::string_view key, std::string_view content_type,
                          std::string_view event, std::string_view body,
                          const ChannelLimits& limits) override;
    DeleteResult delete_channel(std::string_view key) override;
    std::optional<ChannelInfo> info(std::string_view key) override;

    SubscribeResult subscribe(const SubscribeRequest& request) override;
    void unsubscribe(const ChannelRef& channel, std::uint32_t n) override;
    void record_delivery(const ChannelRef& channel, const Message& message, std::uint32_t delivered,
                         std::uint32_t ended) override;
    NextResult find_next(const ChannelRef& channel, MessageId since) override;

    void set_listener(Listener* listener) override { listener_ = listener; }
    // Redis mode (RedisBroker, which serves from this one): told when a channel this worker
    // wanted turned live in the cache, or was deleted (either ends the wait for it).
    void set_live_handler(std::function<void(std::uint64_t uid)> handler) {
        live_handler_ = std::move(handler);
    }
    void dispatch_events() override;

    void expire() override;
    Stats stats() override;
    void set_held(core::SubscriberKind kind, std::uint32_t n) override;
    void count_grip_items(std::uint64_t n) override;
    void count_grip_rerequest() override;
    void count_grip_origin_error() override;
    Status sequence_grip(std::string_view key, const SequenceStep& step) override;
    std::size_t sequence_grip_due(std::int64_t due_ms, const SequenceStep& step) override;
    std::string grip_sequence_state(std::string_view key) override;
    std::int64_t next_grip_wake() override;
    void announce_grip_recover() override;
    std::int64_t now_ms() const override;

  private:
    Message copy_out(const shm::MessagePin& pin, std::uint64_t receipt) const;
    // Copies the pinned message out and gives the pin back.
    Message take(shm::MessagePin& pin);
    void dispatch(shm::Store::Event& event);
    void wake(std::uint64_t slot_mask) const;

    shm::Store& store_;
    int slot_;
    std::array<int, core::kMaxWorkerSlots> wake_fds_;
    struct ev_loop* loop_;
    Listener* listener_ = nullptr;
    std::function<void(std::uint64_t uid)> live_handler_;
    std::vector<shm::Store::Event> events_;  // reused by dispatch_events
};

}  // namespace pushrelay::broker
