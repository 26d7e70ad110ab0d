// broker/redis_broker.h — the Broker of Redis mode (shared/scale-out.md, `distributed` and
// `nostore`): Redis is the store of record, the shared segment is this node's cache of it.
//
// What needs Redis runs on this worker's own command connection: publish, delete and channel info
// (the callback forms of broker.h). Nothing is delivered from a publish reply: every node, this
// one included, gets its messages from the frames its relay process reads off the subscription
// and writes into the segment, as Published/Deleted events like any other (relay/relay.h).
//
// Subscribers are served from the cache (a ShmBroker over the same segment) once the channel is
// live there: the relay subscribed to it and fetched it. prepare_subscribe() asks the relay for a
// channel that is not (a datagram on the relay's socket) and answers when the relay's Live event
// reaches this worker, or Unavailable after push_redis_command_timeout.
//
// GRIP's own publishes (the synchronous publish()) stay on this node's segment: the GRIP proxy is
// node-local in Redis mode (doc/decisions.md).
#pragma once

#include <ev.h>

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "broker/shm_broker.h"
#include "redis/cluster.h"
#include "redis/scripts.h"

namespace pushrelay::broker {

struct RedisBrokerSettings {
    redis::Settings connection;           // scripts: every redis::Script, in enum order
    std::vector<sockaddr_storage> seeds;  // Redis, or the seeds of a Cluster
    std::string ns;                       // push_redis_namespace
    redis::StorageMode mode = redis::StorageMode::Distributed;
    std::uint64_t node_id = 0;
    int relay_fd = -1;  // the relay's datagram socket (relay/want.h), written to
};

class RedisBroker final : public Broker, private redis::Observer {
  public:
    // As ShmBroker's arguments, plus Redis's. The first connection attempt starts from the loop.
    RedisBroker(shm::Store& store, int slot, const std::array<int, core::kMaxWorkerSlots>& wake_fds,
                struct ev_loop* loop, RedisBrokerSettings settings);
    ~RedisBroker() override;

    void publish_then(const PublishCall& call, std::function<void(PublishResult&&)> done) override;
    void delete_then(std::string_view key, std::function<void(DeleteResult&&)> done) override;
    void info_then(std::string_view key, std::function<void(InfoResult&&)> done) override;
    void prepare_subscribe(const PrepareRequest& request,
                           std::function<void(Prepared&&)> done) override;

    // Node-local (GRIP), on the cache.
    PublishResult publish(std::string_view key, std::string_view content_type,
                          std::string_view event, std::string_view body,
                          const ChannelLimits& limits) override {
        return cache_.publish(key, content_type, event, body, limits);
    }
    DeleteResult delete_channel(std::string_view key) override {
        return cache_.delete_channel(key);
    }
    std::optional<ChannelInfo> info(std::string_view key) override { return cache_.info(key); }

    SubscribeResult subscribe(const SubscribeRequest& request) override {
        return cache_.subscribe(request);
    }
    void unsubscribe(const ChannelRef& channel, std::uint32_t n) override {
        cache_.unsubscribe(channel, n);
    }
    void record_delivery(const ChannelRef& channel, const Message& message, std::uint32_t delivered,
                         std::uint32_t ended) override {
        cache_.record_delivery(channel, message, delivered, ended);
    }
    NextResult find_next(const ChannelRef& channel, MessageId since) override {
        return cache_.find_next(channel, since);
    }
    void set_listener(Listener* listener) override { cache_.set_listener(listener); }
    void dispatch_events() override { cache_.dispatch_events(); }
    void expire() override;
    Stats stats() override;
    void set_held(core::SubscriberKind kind, std::uint32_t n) override { cache_.set_held(kind, n); }
    void count_grip_items(std::uint64_t n) override { cache_.count_grip_items(n); }
    void count_grip_rerequest() override { cache_.count_grip_rerequest(); }
    void count_grip_origin_error() override { cache_.count_grip_origin_error(); }
    Status sequence_grip(std::string_view key, const SequenceStep& step) override {
        return cache_.sequence_grip(key, step);
    }
    std::size_t sequence_grip_due(std::int64_t due_ms, const SequenceStep& step) override {
        return cache_.sequence_grip_due(due_ms, step);
    }
    std::string grip_sequence_state(std::string_view key) override {
        return cache_.grip_sequence_state(key);
    }
    std::int64_t next_grip_wake() override { return cache_.next_grip_wake(); }
    void announce_grip_recover() override { cache_.announce_grip_recover(); }
    std::int64_t now_ms() const override { return cache_.now_ms(); }

  private:
    // A subscriber request waiting for its channel to turn live in the cache.
    struct Waiting {
        std::function<void(Prepared&&)> done;
        ev_tstamp deadline = 0;
    };

    void on_up() override;
    void on_down(const redis::Failure& failure) override;

    // A PrepareRequest kept across a round trip: its views point into its own copies.
    class PrepareKept {
      public:
        explicit PrepareKept(const PrepareRequest& request) : key_(request.key), request_(request) {
            request_.key = key_;
        }
        const PrepareRequest& request() const { return request_; }

      private:
        std::string key_;
        PrepareRequest request_;
    };

    void claim_first(const PrepareRequest& request, std::function<void(Prepared&&)> done);
    void kick_other_nodes(std::string_view key);
    void prepare_cache(const PrepareRequest& request, std::function<void(Prepared&&)> done);
    void send_publish(std::shared_ptr<redis::ScriptCall> call,
                      std::function<void(PublishResult&&)> done, bool resent);
    void ask_relay(const PrepareRequest& request);
    void channel_live(std::uint64_t uid);
    void expire_waiting();
    void arm_waiting_timer();
    std::string why_unavailable() const;
    void publish_counters();
    static void on_waiting_timer(struct ev_loop* loop, ev_timer* w, int revents);

    shm::Store& store_;
    int slot_;
    struct ev_loop* loop_;
    ShmBroker cache_;
    RedisBrokerSettings settings_;
    redis::Commands redis_;    // one connection, or one per Cluster master
    std::string down_reason_;  // empty while up
    // The worker's own idempotency tokens count up from a random start: two workers of a node,
    // or a worker and its respawned successor, must never send the same token within the
    // 10 minutes Redis remembers them (the publish would be taken for a retry and dropped).
    std::uint64_t publish_sequence_;
    redis::CounterDeltas counted_;  // what publish_counters() added to the store
    std::unordered_map<std::uint64_t, std::vector<Waiting>> waiting_;  // by channel uid
    ev_timer waiting_timer_;
};

}  // namespace pushrelay::broker
