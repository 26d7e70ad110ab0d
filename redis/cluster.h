// redis/cluster.h — a standalone Redis and a Redis Cluster made to look the same to the broker and
// the relay (shared/scale-out.md "Redis Cluster"): Commands routes each command to the master of
// its channel's slot, and ShardedSubscriptions keeps each channel SSUBSCRIBEd on its shard.
//
// Owns the slot map (CLUSTER SLOTS, read through any up command connection at connect, on every
// MOVED, and every second while a slot has no master that answers), one Connection per master
// address and, for the relay, one Subscription per master address. Standalone (INFO says
// cluster_enabled:0), each class is a pass-through to one Connection or one Subscription. Runs
// in whichever process owns the loop (a worker, the relay), single-threaded; resolves nothing:
// the masters' addresses are the numeric ones CLUSTER SLOTS and MOVED give.
#pragma once

#include <ev.h>
#include <sys/socket.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "redis/connection.h"
#include "redis/link.h"
#include "redis/scripts.h"
#include "redis/subscription.h"

namespace pushrelay::redis {

inline constexpr unsigned kClusterSlots = 16384;

// "127.0.0.1:7000": how an address is named in logs, reasons and the maps below.
std::string endpoint_name(const sockaddr_storage& address);
// The address of a numeric `host` and `port` (what CLUSTER SLOTS and MOVED give); nullopt for
// a host name (which would need a resolver on the loop) or a malformed one.
std::optional<sockaddr_storage> numeric_address(std::string_view host, int port);

// Which master serves each slot. Pure.
class SlotMap {
  public:
    struct Master {
        sockaddr_storage address{};
        std::string name;  // endpoint_name(address)
    };

    // Reads a CLUSTER SLOTS reply; an empty host stands for `asked`'s (Redis's own convention).
    // Ranges whose master has no numeric address stay unserved. nullopt: not a CLUSTER SLOTS
    // reply.
    static std::optional<SlotMap> parse(const Value& reply, const sockaddr_storage& asked);

    // nullptr: no master known for `slot`.
    const Master* master(unsigned slot) const;
    // A MOVED reply's news, until the next CLUSTER SLOTS.
    void assign(unsigned slot, const sockaddr_storage& address);
    // Each master once, in the order first seen.
    const std::vector<Master>& masters() const { return masters_; }
    bool covers_every_slot() const;

  private:
    static constexpr std::uint16_t kNone = 0xffff;
    std::uint16_t index_of(const sockaddr_storage& address);

    std::vector<Master> masters_;
    std::array<std::uint16_t, kClusterSlots> owner_ = filled();
    static std::array<std::uint16_t, kClusterSlots> filled();
};

// "Up" over several connections, reported once per change: on_up when every one is up, on_down
// when one goes down (and, while down, when the reason changes; redis/link.h's DownReports).
class HealthReports {
  public:
    // Whether on_up is to be called now.
    bool should_report_up(bool healthy);
    // Whether on_down(failure) is to be called now.
    bool should_report_down(const Failure& failure);
    bool reported_up() const { return up_; }

  private:
    bool up_ = false;
    DownReports down_reports_;
};

// The command connections of one deployment: what the broker (each worker) and the relay call.
// Not thread-safe. Callbacks are never called from inside command(), evalsha() or the
// constructor, and must not destroy the Commands.
class Commands {
  public:
    using Callback = Connection::Callback;
    enum class Mode : std::uint8_t { Unknown, Standalone, Cluster };

    // `seed_settings` is every connection's (its address is unused: the seeds are the addresses
    // tried first; masters found later get the same settings with db 0). `seeds` is non-empty.
    // Observer: standalone, the Connection's own reports; in a Cluster, on_up once every master
    // of the map is up, on_down (the reason naming the shard) when one is not.
    Commands(struct ev_loop* loop, Settings seed_settings, std::vector<sockaddr_storage> seeds,
             Observer& observer);
    ~Commands();
    Commands(const Commands&) = delete;
    Commands& operator=(const Commands&) = delete;

    // EVALSHA of Settings::scripts[script], to the master of keys[0]'s slot (every script's keys
    // share one hash tag). In a Cluster, MOVED is followed (at most kMaxRedirects times), ASK
    // once (ASKING first), and a not-ready reply (CLUSTERDOWN, TRYAGAIN, ...) or a slot with no
    // known master is retried after 100 ms doubling until command_timeout from the call has
    // passed; then the callback gets that last outcome. Otherwise as Connection::evalsha.
    void evalsha(std::size_t script, const std::vector<std::string>& keys,
                 const std::vector<std::string>& args, Callback callback);
    // As evalsha, routed by argv[1] (the key of GET, XRANGE, ...); argv of one word goes to any
    // master.
    void command(std::vector<std::string> argv, Callback callback);

    bool up() const;
    Mode mode() const { return mode_; }
    bool cluster() const { return mode_ == Mode::Cluster; }
    PublishCommand publish_command() const {
        return cluster() ? PublishCommand::SPublish : PublishCommand::Publish;
    }
    // Summed over every connection this Commands ever had.
    Connection::Counters counters() const;
    // Of an up connection; "" before the first is up.
    std::string server_version() const;

    // ---- for ShardedSubscriptions, which shares the slot map ----
    const SlotMap& slot_map() const { return slot_map_; }
    // Standalone: the server's address. Meaningful once mode() is known.
    const sockaddr_storage& standalone_address() const;
    // Called, from the loop, once mode() is known and after every CLUSTER SLOTS read. One
    // listener (the relay's ShardedSubscriptions).
    void set_topology_listener(std::function<void()> listener) {
        topology_listener_ = std::move(listener);
    }
    // CLUSTER SLOTS now (after = 0) or in `after` seconds; one in flight at a time.
    void refresh_slots(double after = 0);

    static constexpr int kMaxRedirects = 5;

  private:
    struct Call;
    struct Node;

    void submit(std::shared_ptr<Call> call);
    void dispatch(const std::shared_ptr<Call>& call);
    void send_to(Node& node, const std::shared_ptr<Call>& call, bool asking);
    void replied(const std::shared_ptr<Call>& call, Reply&& reply);
    bool redirect(const std::shared_ptr<Call>& call, const Reply& reply);
    void retry_later(const std::shared_ptr<Call>& call, Reply&& reply);
    void finish(Call& call, Reply&& reply);

    Node& node_at(const sockaddr_storage& address, bool seed = false);
    Node* any_up_node();
    bool is_master(const Node& node) const;
    bool healthy() const;
    void node_up(Node& node);
    void node_down(Node& node, const Failure& failure);
    void report_health(const Failure* cause);
    void slots_replied(const sockaddr_storage& asked, Reply&& reply);
    void prune();

    static void on_refresh_timer(struct ev_loop* loop, ev_timer* w, int revents);
    static void on_prune_timer(struct ev_loop* loop, ev_timer* w, int revents);
    static void on_call_timer(struct ev_loop* loop, ev_timer* w, int revents);

    struct ev_loop* loop_;
    const Settings settings_;
    Observer& observer_;
    Mode mode_ = Mode::Unknown;
    std::map<std::string, std::unique_ptr<Node>> nodes_;  // by endpoint_name
    Node* first_seed_ = nullptr;
    Node* standalone_ = nullptr;  // Standalone: the one connection
    SlotMap slot_map_;
    bool slot_map_read_ = false;
    bool refreshing_ = false;
    HealthReports health_;
    Connection::Counters retired_;  // of pruned connections
    std::unordered_map<Call*, std::shared_ptr<Call>> backing_off_;
    std::function<void()> topology_listener_;
    ev_timer refresh_timer_;
    ev_timer prune_timer_;  // a zero delay: pruned from the loop, never inside a callback
};

// Told of the subscriptions' changes and messages, from the loop only. No callback may destroy
// the ShardedSubscriptions; each may call subscribe() and unsubscribe().
class ShardedSubscriptionsObserver {
  public:
    virtual ~ShardedSubscriptionsObserver() = default;
    // Every shard's subscription is up.
    virtual void on_up() = 0;
    // A shard's subscription is down (the reason names the shard); once per change.
    virtual void on_down(const Failure& failure) = 0;
    // `channel` was confirmed and is not any more (its shard's connection went down, or its slot
    // moved): messages published to it until its next on_subscribed are not seen.
    virtual void on_lost(std::string_view channel) = 0;
    // As SubscriptionObserver's: confirmed, again after every reconnect or move.
    virtual void on_subscribed(std::string_view channel) = 0;
    virtual void on_message(std::string_view channel, std::string_view payload) = 0;
};

// The relay's subscriptions: one Subscription standalone, one sharded Subscription per master in
// a Cluster. Waits for `topology` (the relay's Commands) to know the mode and the slot map.
class ShardedSubscriptions {
  public:
    // `settings` as Subscription's (the address is unused: `topology` gives them). `loop`,
    // `topology` and `observer` must outlive this object.
    ShardedSubscriptions(struct ev_loop* loop, Settings settings, Commands& topology,
                         ShardedSubscriptionsObserver& observer);
    ~ShardedSubscriptions();
    ShardedSubscriptions(const ShardedSubscriptions&) = delete;
    ShardedSubscriptions& operator=(const ShardedSubscriptions&) = delete;

    // As Subscription's, routed to the shard of cluster_slot(channel).
    void subscribe(std::string channel);
    void unsubscribe(const std::string& channel);

    bool up() const;
    std::size_t channels() const;  // confirmed, summed
    std::size_t wanted() const { return wanted_.size(); }
    Subscription::Counters counters() const;

  private:
    struct Shard;
    struct Wanted {
        Shard* shard = nullptr;  // nullptr: waiting for a route
        bool confirmed = false;
        std::uint64_t moved_at = 0;  // the topology_version_ its shard said it moved; 0: never
    };

    void topology_changed();
    void route(const std::string& channel, Wanted& wanted);
    void leave_shard(const std::string& channel, Wanted& wanted);
    Shard& shard_at(const sockaddr_storage& address, bool sharded);
    Shard* target(const std::string& channel) const;
    bool healthy() const;

    void shard_up();
    void shard_down(Shard& shard, const Failure& failure);
    void subscribed(Shard& shard, std::string_view channel);
    void message(Shard& shard, std::string_view channel, std::string_view payload);
    void moved(Shard& shard, std::string_view channel);
    void prune();

    static void on_prune_timer(struct ev_loop* loop, ev_timer* w, int revents);

    struct ev_loop* loop_;
    const Settings settings_;
    Commands& topology_;
    ShardedSubscriptionsObserver& observer_;
    std::map<std::string, std::unique_ptr<Shard>> shards_;  // by endpoint_name
    std::unordered_map<std::string, Wanted> wanted_;
    std::uint64_t topology_version_ = 0;
    HealthReports health_;
    Subscription::Counters retired_;
    ev_timer prune_timer_;
};

}  // namespace pushrelay::redis
