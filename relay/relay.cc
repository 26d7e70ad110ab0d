#include "relay/relay.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "conf/conf.h"
#include "core/log.h"
#include "redis/cluster.h"
#include "redis/connection.h"
#include "redis/frames.h"
#include "redis/keys.h"
#include "redis/relay_ask.h"
#include "redis/scripts.h"
#include "relay/settings.h"
#include "shm/store.h"

namespace pushrelay::relay {
namespace {

// A channel nobody here waits on or asks for stays subscribed this long (Nchan's idle cache
// timeout): long-poll clients re-asking between messages never churn the subscription.
constexpr double kIdleUnsubscribe = 30;
// How often the waiter counts are compared with what Redis was told: a change is reported within
// this (scale-out.md item 6, coalesced per channel).
constexpr double kCountInterval = 0.1;
// Channel info shows `requested` in seconds: a newer request is reported once it is this much
// newer.
constexpr std::int64_t kRequestedResolutionMs = 1000;
// A lease lasts 30 s in Redis (the count script); it is renewed well before.
constexpr double kLeaseRenew = 10;
// A fetch that failed (Redis down, not ready) is tried again after this.
constexpr double kFetchRetry = 0.5;
// Entries per fetch call; a longer backlog is fetched page after page.
constexpr std::uint32_t kFetchPage = 100;
// Frames kept while a channel syncs; past this they are dropped and the sync fetches again.
constexpr std::size_t kMaxQueuedFrames = 10000;
constexpr std::size_t kMaxDatagram = 64 * 1024;

enum class Sync : std::uint8_t { Subscribing, Fetching, Live };

struct Channel {
    std::string key;
    redis::ChannelKeys keys;
    Sync sync = Sync::Subscribing;
    bool may_create = true;
    std::int64_t channel_timeout_ms = 5000;
    std::vector<redis::MessageFrame> queued;  // frames that came while not Live
    bool refetch = false;                     // a sync was asked for during a fetch
    bool retry = false;                       // the last fetch failed: again at the retry tick
    // Redis lost its data (NS:run changed) since the cache synced: the channel's generation in
    // Redis is a new one, which the cache adopts, waiters kept, instead of taking it for a
    // deletion.
    bool adopt_gen = false;
    std::uint32_t reported_waiters = 0;  // what the last count told Redis
    // Taken on from the cache: another relay of this node may have told Redis another figure
    // (reported_waiters is not what Redis holds), so the first tick reports whatever it counts.
    bool report_unknown = false;
    std::int64_t reported_requested_ms = -1;
    double lease_renew_at = 0;
    bool dropped_last_tick = false;  // fewer waiters than reported at the last tick
    double idle_since = 0;           // when it last had no waiter; 0 while it has some
};

class Relay final : private redis::Observer {
  public:
    Relay(const core::RelayContext& context, struct ev_loop* loop);
    ~Relay() override;
    void start();

  private:
    // ---- redis::Observer (the command connection) ----
    void on_up() override;
    void on_down(const redis::Failure& failure) override;
    // ---- redis::SubscriptionObserver ----
    struct SubscriptionEvents final : redis::ShardedSubscriptionsObserver {
        explicit SubscriptionEvents(Relay& relay) : relay(relay) {}
        void on_up() override;
        void on_down(const redis::Failure& failure) override;
        void on_lost(std::string_view channel) override { relay.lost(channel); }
        void on_subscribed(std::string_view channel) override { relay.subscribed(channel); }
        void on_message(std::string_view channel, std::string_view payload) override {
            relay.frame_arrived(channel, payload);
        }
        Relay& relay;
    };

    void read_asks();
    void ask(const redis::RelayAsk& ask);
    Channel& track(const std::string& key);
    void adopt_cached_channels();

    void subscribed(std::string_view pubsub);
    void lost(std::string_view pubsub);
    void start_fetch(Channel& channel);
    void restart_fetch(Channel& channel);
    void fetch_page(const std::string& pubsub, std::optional<core::MessageId> since,
                    std::optional<std::uint64_t> gen);
    void fetched(const std::string& pubsub, redis::Reply&& reply);
    void finish_sync(Channel& channel, std::uint64_t gen, std::optional<core::MessageId> newest);
    void restart_sync(Channel& channel);
    void check_run();
    void run_read(redis::Reply&& reply);

    void frame_arrived(std::string_view pubsub, std::string_view payload);
    void apply_message(Channel& channel, redis::MessageFrame& frame, bool after_sync);
    // One message into the cache (Redis's id, its lifetime from now); whether it went in.
    bool insert(const shm::Store::RemoteMessage& message);
    void delete_cached(const Channel& channel);

    void tick();
    void report_count(Channel& channel, const shm::Store::RemoteState* state, double now);
    void wake(std::uint64_t slot_mask) const;
    void publish_figures();
    std::int64_t now_ms() const { return static_cast<std::int64_t>(ev_now(loop_) * 1000); }

    static void on_ask(struct ev_loop* loop, ev_io* w, int revents);
    static void on_tick(struct ev_loop* loop, ev_timer* w, int revents);
    static void on_stop(struct ev_loop* loop, ev_signal* w, int revents);

    const core::RelayContext& context_;
    struct ev_loop* loop_;
    shm::Store& store_;
    const conf::RedisSettings& conf_;
    SubscriptionEvents events_;
    redis::Commands commands_;                  // one connection, or one per Cluster master
    redis::ShardedSubscriptions subscription_;  // routed by commands_' slot map
    std::unordered_map<std::string, Channel> channels_;  // by pubsub channel name
    double last_retry_ = 0;
    // NS:run as last read (empty: not yet), and whether it was read since the command
    // connection last came up: fetches wait for it, so that a Redis that lost its data is known
    // before any channel's generation is compared.
    std::string run_id_;
    bool run_checked_ = false;
    redis::CounterDeltas counted_;  // what publish_figures() added to the store
    ev_io ask_watcher_;
    ev_timer tick_timer_;
    ev_signal stop_watchers_[3];
};

Relay::Relay(const core::RelayContext& context, struct ev_loop* loop)
    : context_(context),
      loop_(loop),
      store_(*context.store),
      conf_(context.config->redis),
      events_(*this),
      commands_(loop, connection_settings(conf_, "relay"), seed_addresses(conf_), *this),
      subscription_(loop, connection_settings(conf_, "relay-sub"), commands_, events_) {
    ev_io_init(&ask_watcher_, on_ask, context.ask_fd, EV_READ);
    ask_watcher_.data = this;
    ev_timer_init(&tick_timer_, on_tick, kCountInterval, kCountInterval);
    tick_timer_.data = this;
    const int signals[] = {SIGTERM, SIGQUIT, SIGINT};
    for (int i = 0; i < 3; i++) {
        ev_signal_init(&stop_watchers_[i], on_stop, signals[i]);
        ev_signal_start(loop_, &stop_watchers_[i]);
    }
}

Relay::~Relay() {
    ev_io_stop(loop_, &ask_watcher_);
    ev_timer_stop(loop_, &tick_timer_);
    for (ev_signal& w : stop_watchers_) ev_signal_stop(loop_, &w);
}

void Relay::start() {
    ev_io_start(loop_, &ask_watcher_);
    ev_timer_start(loop_, &tick_timer_);
    adopt_cached_channels();
}

// A relay that starts (the node's first, or one replacing a dead one), or that hears another
// relay of the node exited (announce_gone), takes on every channel the cache serves waiters of
// or marks live and it does not hold yet: subscribed and resynced, so nothing the other relay
// fed, or missed, is lost for them.
void Relay::adopt_cached_channels() {
    std::vector<std::string> keys;
    store_.visit_remote([&keys](const shm::Store::RemoteState& state, std::string_view key) {
        if (state.waiters_total > 0 || state.live)
            keys.emplace_back(key);
    });
    std::size_t adopted = 0;
    for (const std::string& key : keys) {
        if (channels_.count(redis::channel_keys(conf_.ns, key).pubsub) != 0)
            continue;
        track(key).report_unknown = true;
        adopted++;
    }
    if (adopted != 0)
        LOG_NOTICE("redis relay: resyncing %zu cached channels", adopted);
}

void Relay::on_up() {
    store_.set_redis_up(shm::Store::kRelaySlot, subscription_.up());
    LOG_NOTICE("redis: connected (relay), Redis %s", commands_.server_version().c_str());
    check_run();
}

// scale-out.md "Keys": NS:run is SET NX with a random value at connect; another value than the
// one this relay saw means Redis restarted without its data.
void Relay::check_run() {
    const std::string key = redis::run_key(conf_.ns);
    std::random_device device;
    const std::string mine =
        std::to_string((static_cast<std::uint64_t>(device()) << 32) ^ device());
    commands_.command({"SET", key, mine, "NX"}, [](redis::Reply&&) {});
    commands_.command({"GET", key}, [this](redis::Reply&& reply) { run_read(std::move(reply)); });
}

void Relay::run_read(redis::Reply&& reply) {
    if (reply.outcome != redis::Outcome::Ok || reply.value.type != redis::Value::Type::String)
        return;  // the connection went down again: read at the next connect
    if (!run_id_.empty() && reply.value.string != run_id_) {
        LOG_WARN("redis: Redis lost its data (%s changed): resyncing %zu channels, waiters kept",
                 redis::run_key(conf_.ns).c_str(), channels_.size());
        for (auto& [pubsub, channel] : channels_) channel.adopt_gen = true;
    }
    run_id_ = reply.value.string;
    run_checked_ = true;
    for (auto& [pubsub, channel] : channels_) {
        if (channel.sync == Sync::Fetching && channel.retry)
            restart_fetch(channel);
    }
}

void Relay::on_down(const redis::Failure& failure) {
    store_.set_redis_up(shm::Store::kRelaySlot, false);
    run_checked_ = false;
    if (failure.kind == redis::Failure::Kind::Auth || failure.kind == redis::Failure::Kind::Version)
        LOG_ERROR("redis: %s", failure.reason.c_str());
    else
        LOG_WARN("redis: connection lost (relay): %s", failure.reason.c_str());
}

void Relay::SubscriptionEvents::on_up() {
    relay.store_.set_redis_up(shm::Store::kRelaySlot, relay.commands_.up());
    LOG_NOTICE("redis: subscription connected, resyncing %zu channels", relay.channels_.size());
}

void Relay::SubscriptionEvents::on_down(const redis::Failure& failure) {
    relay.store_.set_redis_up(shm::Store::kRelaySlot, false);
    if (failure.kind == redis::Failure::Kind::Auth)
        LOG_ERROR("redis: subscription: %s", failure.reason.c_str());
    else
        LOG_WARN("redis: subscription lost: %s", failure.reason.c_str());
}

// The channel's subscription is gone (its connection or its shard went down, or its slot moved):
// until it is confirmed again its frames may be missing, so it resyncs on the confirmation.
void Relay::lost(std::string_view pubsub) {
    auto it = channels_.find(std::string(pubsub));
    if (it != channels_.end() && it->second.sync == Sync::Live)
        it->second.sync = Sync::Subscribing;
}

// ---- asks ----

void Relay::on_ask(struct ev_loop*, ev_io* w, int) {
    static_cast<Relay*>(w->data)->read_asks();
}

void Relay::read_asks() {
    char buffer[kMaxDatagram];
    for (;;) {
        const ssize_t n = ::recv(context_.ask_fd, buffer, sizeof buffer, MSG_DONTWAIT);
        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR)
                LOG_ALERT_ERRNO("recv(relay socket)");
            return;
        }
        const std::string_view datagram(buffer, static_cast<std::size_t>(n));
        if (redis::is_relay_gone(datagram))
            adopt_cached_channels();
        else if (auto decoded = redis::decode_ask(datagram))
            ask(*decoded);
    }
}

Channel& Relay::track(const std::string& key) {
    redis::ChannelKeys keys = redis::channel_keys(conf_.ns, key);
    auto [it, added] = channels_.try_emplace(keys.pubsub);
    Channel& channel = it->second;
    if (added) {
        channel.key = key;
        channel.keys = std::move(keys);
        subscription_.subscribe(channel.keys.pubsub);
    }
    return channel;
}

// A worker wants the channel live. Subscribing or fetching: the end of that answers it. Live here
// but not in the cache (a subscriber named an id the cache has not seen, or eviction left a gap):
// fetched again.
void Relay::ask(const redis::RelayAsk& ask) {
    LOG_DEBUG("redis relay: asked for \"%s\"", log::escape(ask.key).c_str());
    Channel& channel = track(ask.key);
    channel.may_create = ask.may_create;
    channel.channel_timeout_ms = ask.channel_timeout_ms;
    channel.idle_since = 0;
    if (channel.sync == Sync::Live)
        start_fetch(channel);
    else if (channel.sync == Sync::Fetching)
        channel.refetch = true;
}

// ---- sync ----

// The limits a channel's cache entry takes from a sync: Redis trims and expires, the cache keeps
// what Redis holds (each message's own expiry is its TTL); the channel_timeout is its subscribers'.
core::ChannelLimits cache_limits(const Channel& channel) {
    core::ChannelLimits limits;
    limits.max_buffer = UINT32_MAX;
    limits.message_timeout_ms = 0;
    limits.channel_timeout_ms = channel.channel_timeout_ms;
    return limits;
}

void Relay::subscribed(std::string_view pubsub) {
    LOG_DEBUG("redis relay: subscribed to \"%s\"", log::escape(pubsub).c_str());
    auto it = channels_.find(std::string(pubsub));
    if (it != channels_.end() && it->second.sync == Sync::Subscribing)
        start_fetch(it->second);
}

void Relay::start_fetch(Channel& channel) {
    if (channel.sync == Sync::Fetching) {
        channel.refetch = true;
        return;
    }
    channel.sync = Sync::Fetching;
    if (!run_checked_) {
        channel.retry = true;  // fetched once NS:run is read (run_read)
        return;
    }
    channel.retry = false;
    store_.count_redis(core::RedisCounter::Resyncs);
    std::optional<shm::Store::RemoteState> state = store_.remote_state(channel.key, now_ms());
    std::optional<core::MessageId> since;
    std::optional<std::uint64_t> gen;
    if (state && state->gen != 0) {
        since = state->newest;
        if (!channel.adopt_gen)
            gen = state->gen;
    }
    fetch_page(channel.keys.pubsub, since, gen);
}

// A fetch that failed or waited for NS:run, tried again.
void Relay::restart_fetch(Channel& channel) {
    channel.sync = Sync::Subscribing;
    start_fetch(channel);
}

void Relay::fetch_page(const std::string& pubsub, std::optional<core::MessageId> since,
                       std::optional<std::uint64_t> gen) {
    const Channel& channel = channels_.at(pubsub);
    redis::FetchRequest request;
    request.since = since;
    request.max_messages = kFetchPage;
    request.gen = gen;
    request.may_create = channel.may_create;
    request.limits.channel_timeout_ms = channel.channel_timeout_ms;
    const redis::ScriptCall call = redis::fetch_call(channel.keys, request);
    commands_.evalsha(static_cast<std::size_t>(redis::Script::Fetch), call.keys, call.args,
                      [this, pubsub](redis::Reply&& reply) { fetched(pubsub, std::move(reply)); });
}

void Relay::fetched(const std::string& pubsub, redis::Reply&& reply) {
    auto it = channels_.find(pubsub);
    if (it == channels_.end() || it->second.sync != Sync::Fetching)
        return;
    Channel& channel = it->second;
    if (reply.outcome != redis::Outcome::Ok) {
        channel.retry = true;  // Redis down or not ready: the tick tries again
        return;
    }
    auto parsed = redis::parse_fetch_reply(reply.value);
    if (auto* err = std::get_if<redis::ReplyError>(&parsed)) {
        LOG_ERROR("redis relay: %s", err->c_str());
        channel.retry = true;
        return;
    }
    redis::FetchReply& page = std::get<redis::FetchReply>(parsed);
    LOG_DEBUG("redis relay: fetched %zu messages of \"%s\" (newest %lld:%u)", page.messages.size(),
              log::escape(channel.key).c_str(),
              page.newest ? static_cast<long long>(page.newest->time) : -1LL,
              page.newest ? page.newest->tag : 0);
    if (page.status == redis::FetchStatus::Gone) {
        // Deleted while this node did not hear it (scale-out.md item 5): 410 to the waiters
        // here, and nothing fetched again, which would create the channel anew in Redis. The
        // next subscriber or message here syncs it afresh.
        delete_cached(channel);
        channel.queued.clear();
        channel.sync = Sync::Live;
        return;
    }
    if (page.status == redis::FetchStatus::Forbidden) {
        // authorized_channels_only and no such channel: the asking workers find no cache entry
        // and answer 403.
        wake(store_.set_remote_live(channel.key, 0, std::nullopt, {}, now_ms()));
        delete_cached(channel);
        channel.sync = Sync::Live;
        return;
    }
    const core::ChannelLimits limits = cache_limits(channel);
    if (std::exchange(channel.adopt_gen, false)) {
        // The cache keeps what it had (clients iterating it lose nothing it holds) and takes the
        // new generation, so that the new generation's messages go in after it.
        std::optional<shm::Store::RemoteState> state = store_.remote_state(channel.key, now_ms());
        if (state && state->gen != page.gen)
            wake(store_.set_remote_live(channel.key, page.gen, std::nullopt, limits, now_ms()));
    }
    for (const redis::StoredMessage& m : page.messages) {
        const std::int64_t ttl = m.expires_at_ms == 0 ? 0 : m.expires_at_ms - now_ms();
        if (m.expires_at_ms != 0 && ttl <= 0)
            continue;
        if (insert({.key = channel.key,
                    .gen = page.gen,
                    .id = m.id,
                    .content_type = m.content_type,
                    .event = m.event,
                    .body = m.body,
                    .ttl_ms = ttl,
                    .store = true,
                    .limits = limits,
                    .oldest_kept = std::nullopt}))
            store_.count_redis(core::RedisCounter::Recovered);
    }
    if (page.messages.size() == kFetchPage && page.newest && page.messages.back().id < *page.newest)
        return fetch_page(pubsub, page.messages.back().id, page.gen);
    finish_sync(channel, page.gen, page.newest);
}

// The fetch reached Redis's newest id: the frames that came meanwhile go in (those the fetch
// already brought are duplicates, dropped by id), and the channel turns live.
void Relay::finish_sync(Channel& channel, std::uint64_t gen,
                        std::optional<core::MessageId> newest) {
    std::vector<redis::MessageFrame> queued = std::move(channel.queued);
    channel.queued.clear();
    for (redis::MessageFrame& frame : queued) {
        if (frame.gen == gen)
            apply_message(channel, frame, true);
    }
    wake(store_.set_remote_live(channel.key, gen, newest, cache_limits(channel), now_ms()));
    channel.sync = Sync::Live;
    if (std::exchange(channel.refetch, false))
        start_fetch(channel);
}

// The channel in Redis is not the one cached (deleted, or another generation): the cache entry
// goes (410 to its waiters) and the channel syncs afresh.
void Relay::restart_sync(Channel& channel) {
    delete_cached(channel);
    channel.sync = Sync::Fetching;
    channel.queued.clear();
    fetch_page(channel.keys.pubsub, std::nullopt, std::nullopt);
}

void Relay::delete_cached(const Channel& channel) {
    shm::Store::DeleteResult result = store_.delete_channel(channel.key, now_ms());
    wake(result.wake_slots_mask);
}

// ---- frames ----

void Relay::frame_arrived(std::string_view pubsub, std::string_view payload) {
    auto it = channels_.find(std::string(pubsub));
    if (it == channels_.end())
        return;
    Channel& channel = it->second;
    auto decoded = redis::decode_frame(payload);
    if (auto* err = std::get_if<redis::FrameError>(&decoded)) {
        LOG_ERROR("redis relay: a malformed frame on \"%s\": %s", log::escape(pubsub).c_str(),
                  err->c_str());
        return;
    }
    redis::Frame& frame = std::get<redis::Frame>(decoded);
    if (auto* message = std::get_if<redis::MessageFrame>(&frame)) {
        if (channel.sync != Sync::Live) {
            if (channel.queued.size() < kMaxQueuedFrames)
                channel.queued.push_back(std::move(*message));
            else
                channel.refetch = true;
            return;
        }
        return apply_message(channel, *message, false);
    }
    std::optional<shm::Store::RemoteState> state = store_.remote_state(channel.key, now_ms());
    if (auto* deleted = std::get_if<redis::DeletedFrame>(&frame)) {
        if (state && (state->gen == 0 || state->gen == deleted->gen))
            delete_cached(channel);
    } else if (auto* kick = std::get_if<redis::KickFrame>(&frame)) {
        // A `last` subscriber on another node: every waiter here goes (the kicking node's own
        // waiters were kicked there, by its store).
        if (kick->node != context_.node_id)
            wake(store_.kick_remote(channel.key));
    } else if (auto* trimmed = std::get_if<redis::TrimmedFrame>(&frame)) {
        store_.trim_remote(channel.key, trimmed->gen, trimmed->oldest, now_ms());
    }
}

// A message frame on a live channel (or one queued during a sync, `after_sync`: the fetch
// covered everything before it, so a gap there is one of unstored messages, which no fetch can
// bring back, and is skipped).
void Relay::apply_message(Channel& channel, redis::MessageFrame& frame, bool after_sync) {
    std::optional<shm::Store::RemoteState> state = store_.remote_state(channel.key, now_ms());
    // Not live and not about to be (the sync that is ending makes it so): the cache entry
    // expired, was evicted or was asked to resync.
    if (!state || (!state->live && !after_sync)) {
        channel.queued.push_back(std::move(frame));
        return start_fetch(channel);
    }
    if (state->gen != 0 && state->gen != frame.gen) {
        channel.queued.push_back(std::move(frame));
        return restart_sync(channel);
    }
    if (state->newest && !(*state->newest < frame.id))
        return;  // a duplicate
    if (!after_sync && frame.prev != state->newest && frame.stored) {
        channel.queued.push_back(std::move(frame));
        return start_fetch(channel);  // a gap: fetch (newest, id] first
    }
    // The message's lifetime by Redis's clock (its id is Redis's time at the publish), counted
    // from now by ours: no clock coupling between nodes and Redis.
    const std::int64_t ttl =
        frame.expires_at_ms == 0
            ? 0
            : std::max<std::int64_t>(1, frame.expires_at_ms - frame.id.time * 1000);
    insert({.key = channel.key,
            .gen = frame.gen,
            .id = frame.id,
            .content_type = frame.content_type,
            .event = frame.event,
            .body = frame.body,
            .ttl_ms = ttl,
            .store = frame.stored,
            .limits = frame.limits,
            .oldest_kept = frame.oldest});
}

bool Relay::insert(const shm::Store::RemoteMessage& m) {
    store_.note_redis_id_time(m.id.time);
    shm::Store::InsertResult result = store_.insert_remote(m, now_ms());
    if (result.status == shm::Store::InsertStatus::StaleGen)
        return false;  // the next frame of the new generation drops the old entry
    if (result.status == shm::Store::InsertStatus::NoSpace)
        LOG_ERROR("redis relay: the shared segment is full; a message of \"%s\" is not cached",
                  log::escape(m.key).c_str());
    wake(result.wake_slots_mask);
    return result.status == shm::Store::InsertStatus::Inserted;
}

// ---- leases, retries, idle channels ----

void Relay::on_tick(struct ev_loop*, ev_timer* w, int) {
    static_cast<Relay*>(w->data)->tick();
}

void Relay::publish_figures() {
    counted_.report(commands_.counters(), [this](core::RedisCounter counter, std::uint64_t n) {
        store_.count_redis(counter, n);
    });
    store_.set_redis_channels(subscription_.channels());
}

void Relay::tick() {
    const double now = ev_now(loop_);
    publish_figures();
    const bool retry_due = now - last_retry_ >= kFetchRetry;
    if (retry_due)
        last_retry_ = now;
    for (auto it = channels_.begin(); it != channels_.end();) {
        Channel& channel = it->second;
        std::optional<shm::Store::RemoteState> state = store_.remote_state(channel.key, now_ms());
        if (retry_due && channel.retry && channel.sync == Sync::Fetching && run_checked_)
            restart_fetch(channel);
        report_count(channel, state ? &*state : nullptr, now);
        const bool waited_on = state && state->waiters_total > 0;
        if (waited_on || channel.sync != Sync::Live) {
            channel.idle_since = 0;
        } else if (channel.idle_since == 0) {
            channel.idle_since = now;
        } else if (now - channel.idle_since >= kIdleUnsubscribe) {
            subscription_.unsubscribe(channel.keys.pubsub);
            store_.set_remote_not_live(channel.key);
            it = channels_.erase(it);
            continue;
        }
        ++it;
    }
}

// Tells Redis this node's waiters on the channel when they changed, a subscriber asked a second
// or more after the last report (`requested` is shown to the second), or the lease needs
// renewing. A drop is reported once it has lasted a tick: a long-poll client answered re-polls
// within milliseconds, and reporting every such dip would cost a command per node per publish
// (scale-out.md item 7).
void Relay::report_count(Channel& channel, const shm::Store::RemoteState* state, double now) {
    const std::uint32_t waiters = state ? state->waiters_total : 0;
    const std::int64_t requested = state ? state->last_requested_ms : -1;
    const bool rose = waiters > channel.reported_waiters;
    const bool dropped = waiters < channel.reported_waiters && channel.dropped_last_tick;
    channel.dropped_last_tick = waiters < channel.reported_waiters;
    const bool asked = requested >= channel.reported_requested_ms + kRequestedResolutionMs;
    const bool renew = waiters > 0 && now >= channel.lease_renew_at;
    if (!rose && !dropped && !asked && !renew && !channel.report_unknown)
        return;
    if (!commands_.up())
        return;  // reported once it is back: nothing is lost by waiting
    redis::CountRequest request{context_.node_id, waiters, asked};
    const redis::ScriptCall call = redis::count_call(channel.keys, request);
    commands_.evalsha(static_cast<std::size_t>(redis::Script::Count), call.keys, call.args,
                      [](redis::Reply&&) {});
    channel.reported_waiters = waiters;
    channel.report_unknown = false;
    channel.reported_requested_ms = requested;
    channel.lease_renew_at = now + kLeaseRenew;
}

void Relay::wake(std::uint64_t slot_mask) const {
    const std::uint64_t one = 1;
    for (int slot = 0; slot_mask; slot++, slot_mask >>= 1) {
        if ((slot_mask & 1) && ::write(context_.wake_fds[slot], &one, sizeof one) < 0 &&
            errno != EAGAIN)
            LOG_ALERT_ERRNO("write(eventfd)");
    }
}

void Relay::on_stop(struct ev_loop* loop, ev_signal*, int) {
    ev_break(loop, EVBREAK_ALL);
}

}  // namespace

void announce_gone(int write_fd) {
    const std::string notice = redis::encode_relay_gone();
    if (::send(write_fd, notice.data(), notice.size(), MSG_DONTWAIT) < 0)
        LOG_ALERT("send(relay socket) of a relay's exit failed: %s", std::strerror(errno));
}

int run(const core::RelayContext& context) {
    signal(SIGPIPE, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    struct ev_loop* loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
    if (!loop) {
        LOG_ALERT("redis relay: ev_loop_new() failed");
        return core::kWorkerExitFatal;
    }
    {
        Relay relay(context, loop);
        relay.start();
        ev_run(loop, 0);
    }
    ev_loop_destroy(loop);
    return core::kWorkerExitOk;
}

}  // namespace pushrelay::relay
