#include "broker/redis_broker.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <random>

#include "core/log.h"
#include "redis/relay_ask.h"

namespace pushrelay::broker {
namespace {

std::size_t script_index(redis::Script script) {
    return static_cast<std::size_t>(script);
}

// Redis's "requested N ms ago" (its clock) as our last_requested_ms (ours).
ChannelInfo info_of(const redis::InfoReply& reply, std::int64_t now_ms) {
    ChannelInfo info;
    info.messages = reply.messages;
    info.subscribers = reply.subscribers;
    info.last_requested_ms = reply.requested_ms_ago < 0 ? -1 : now_ms - reply.requested_ms_ago;
    return info;
}

std::uint64_t random_start() {
    std::random_device device;
    return (static_cast<std::uint64_t>(device()) << 32) ^ device();
}

bool is_oom(const redis::Reply& reply) {
    return reply.outcome == redis::Outcome::ErrorReply && reply.error.rfind("OOM", 0) == 0;
}

// Whether a publish that ended so may have run in Redis.
bool may_have_run(redis::Outcome outcome) {
    return outcome == redis::Outcome::Timeout || outcome == redis::Outcome::Lost;
}

}  // namespace

RedisBroker::RedisBroker(shm::Store& store, int slot,
                         const std::array<int, core::kMaxWorkerSlots>& wake_fds,
                         struct ev_loop* loop, RedisBrokerSettings settings)
    : store_(store),
      slot_(slot),
      loop_(loop),
      cache_(store, slot, wake_fds, loop),
      settings_(std::move(settings)),
      redis_(loop, settings_.connection, settings_.seeds, *this),
      down_reason_("not connected yet"),
      publish_sequence_(random_start()) {
    ev_timer_init(&waiting_timer_, on_waiting_timer, 0, 0);
    waiting_timer_.data = this;
    cache_.set_live_handler([this](std::uint64_t uid) { channel_live(uid); });
}

RedisBroker::~RedisBroker() {
    ev_timer_stop(loop_, &waiting_timer_);
}

void RedisBroker::on_up() {
    down_reason_.clear();
    store_.set_redis_up(slot_, true);
    LOG_NOTICE("redis: connected (worker), Redis %s", redis_.server_version().c_str());
}

void RedisBroker::on_down(const redis::Failure& failure) {
    down_reason_ = failure.reason;
    store_.set_redis_up(slot_, false);
    if (failure.kind == redis::Failure::Kind::Auth || failure.kind == redis::Failure::Kind::Version)
        LOG_ERROR("redis: %s", failure.reason.c_str());
    else
        LOG_WARN("redis: connection lost (worker): %s", failure.reason.c_str());
}

std::string RedisBroker::why_unavailable() const {
    return down_reason_.empty() ? std::string(
                                      "the node's relay did not fetch the channel within "
                                      "push_redis_command_timeout")
                                : down_reason_;
}

// ---- publish, delete, info ----

void RedisBroker::publish_then(const PublishCall& call, std::function<void(PublishResult&&)> done) {
    const redis::ChannelKeys keys = redis::channel_keys(settings_.ns, call.key);
    redis::PublishRequest request;
    request.content_type = call.content_type;
    request.body = call.body;
    request.event = call.event;
    request.limits = call.limits;
    request.mode = settings_.mode;
    if (const std::int64_t floor = store_.redis_id_floor(); floor >= 0)
        request.id_floor = floor;
    // Without the client's key, our own token: a publish re-sent after a lost connection is
    // then stored once (scale-out.md "Requests").
    request.idempotency = call.idempotency_key.empty()
                              ? redis::retry_idempotency(settings_.node_id, ++publish_sequence_)
                              : redis::header_idempotency(call.idempotency_key);
    auto script = std::make_shared<redis::ScriptCall>(
        redis::publish_call({keys, redis_.publish_command()}, request));
    send_publish(std::move(script), std::move(done), false);
}

void RedisBroker::send_publish(std::shared_ptr<redis::ScriptCall> call,
                               std::function<void(PublishResult&&)> done, bool resent) {
    redis_.evalsha(script_index(redis::Script::Publish), call->keys, call->args,
                   [this, call, done = std::move(done), resent](redis::Reply&& reply) mutable {
                       if (reply.outcome == redis::Outcome::Lost && !resent)
                           return send_publish(std::move(call), std::move(done), true);
                       PublishResult result;
                       if (is_oom(reply)) {
                           result.status = Status::NoSpace;
                           return done(std::move(result));
                       }
                       if (reply.outcome != redis::Outcome::Ok) {
                           store_.count_redis(core::RedisCounter::Unavailable);
                           result.status = Status::Unavailable;
                           result.error = reply.error + (may_have_run(reply.outcome) || resent
                                                             ? "; outcome unknown"
                                                             : "; not published");
                           return done(std::move(result));
                       }
                       auto parsed = redis::parse_publish_reply(reply.value);
                       if (auto* err = std::get_if<redis::ReplyError>(&parsed)) {
                           LOG_ERROR("redis: %s", err->c_str());
                           result.status = Status::Unavailable;
                           result.error = *err + "; outcome unknown";
                           return done(std::move(result));
                       }
                       const redis::PublishReply& published = std::get<redis::PublishReply>(parsed);
                       store_.note_redis_id_time(published.id.time);
                       result.had_waiters = published.subscribers > 0;
                       result.info.messages = published.stored;
                       result.info.subscribers = published.subscribers;
                       done(std::move(result));
                   });
}

void RedisBroker::delete_then(std::string_view key, std::function<void(DeleteResult&&)> done) {
    const redis::ChannelKeys keys = redis::channel_keys(settings_.ns, key);
    const redis::ScriptCall call = redis::delete_call({keys, redis_.publish_command()});
    redis_.evalsha(script_index(redis::Script::Delete), call.keys, call.args,
                   [this, done = std::move(done)](redis::Reply&& reply) {
                       DeleteResult result;
                       if (reply.outcome != redis::Outcome::Ok) {
                           result.status = Status::Unavailable;
                           result.error = reply.error;
                           return done(std::move(result));
                       }
                       auto parsed = redis::parse_delete_reply(reply.value);
                       if (auto* err = std::get_if<redis::ReplyError>(&parsed)) {
                           result.status = Status::Unavailable;
                           result.error = *err;
                           return done(std::move(result));
                       }
                       const redis::InfoReply& before = std::get<redis::InfoReply>(parsed);
                       result.status = before.exists ? Status::Ok : Status::NotFound;
                       result.info = info_of(before, now_ms());
                       done(std::move(result));
                   });
}

void RedisBroker::info_then(std::string_view key, std::function<void(InfoResult&&)> done) {
    const redis::ChannelKeys keys = redis::channel_keys(settings_.ns, key);
    const redis::ScriptCall call = redis::info_call(keys);
    redis_.evalsha(script_index(redis::Script::Info), call.keys, call.args,
                   [this, done = std::move(done)](redis::Reply&& reply) {
                       InfoResult result;
                       if (reply.outcome != redis::Outcome::Ok) {
                           result.status = Status::Unavailable;
                           result.error = reply.error;
                           return done(std::move(result));
                       }
                       auto parsed = redis::parse_info_reply(reply.value);
                       if (auto* err = std::get_if<redis::ReplyError>(&parsed)) {
                           result.status = Status::Unavailable;
                           result.error = *err;
                           return done(std::move(result));
                       }
                       const redis::InfoReply& info = std::get<redis::InfoReply>(parsed);
                       result.status = info.exists ? Status::Ok : Status::NotFound;
                       result.info = info_of(info, now_ms());
                       done(std::move(result));
                   });
}

// ---- subscribers ----

void RedisBroker::prepare_subscribe(const PrepareRequest& request,
                                    std::function<void(Prepared&&)> done) {
    switch (request.concurrency) {
        case Concurrency::First:
            return claim_first(request, std::move(done));
        case Concurrency::Last:
            kick_other_nodes(request.key);
            break;
        case Concurrency::Broadcast:
            break;
    }
    prepare_cache(request, std::move(done));
}

// Concurrency `first` across nodes: Redis says whether another node holds waiters (409), and
// gives this node a lease of one meanwhile; this node's own waiters are its store's to check.
void RedisBroker::claim_first(const PrepareRequest& request, std::function<void(Prepared&&)> done) {
    const redis::ChannelKeys keys = redis::channel_keys(settings_.ns, request.key);
    const redis::ScriptCall call = redis::kick_call({keys, redis_.publish_command()},
                                                    redis::KickMode::First, settings_.node_id);
    auto kept = std::make_shared<PrepareKept>(request);
    redis_.evalsha(script_index(redis::Script::Kick), call.keys, call.args,
                   [this, kept, done = std::move(done)](redis::Reply&& reply) mutable {
                       if (reply.outcome != redis::Outcome::Ok)
                           return done(Prepared{Status::Unavailable, reply.error});
                       auto parsed = redis::parse_kick_reply(reply.value);
                       if (auto* kick = std::get_if<redis::KickReply>(&parsed);
                           kick && kick->status == redis::LeaseStatus::Conflict)
                           return done(Prepared{Status::Conflict, {}});
                       prepare_cache(kept->request(), std::move(done));
                   });
}

// Concurrency `last` across nodes: the K frame makes every other node's relay kick its waiters;
// nothing waits for it (a `last` subscriber is never refused).
void RedisBroker::kick_other_nodes(std::string_view key) {
    const redis::ChannelKeys keys = redis::channel_keys(settings_.ns, key);
    const redis::ScriptCall call = redis::kick_call({keys, redis_.publish_command()},
                                                    redis::KickMode::Last, settings_.node_id);
    redis_.evalsha(script_index(redis::Script::Kick), call.keys, call.args, [](redis::Reply&&) {});
}

void RedisBroker::prepare_cache(const PrepareRequest& request,
                                std::function<void(Prepared&&)> done) {
    const std::int64_t now = now_ms();
    std::optional<shm::Store::RemoteState> state = store_.remote_state(request.key, now);
    if (state && state->live) {
        // A subscriber naming an id this node has not seen yet (its frame is still on the way,
        // or the client iterated on a node ahead of this one) waits for a sync first, so that
        // the cache never hands it a message it already has.
        if (!request.since || (state->newest && *request.since <= *state->newest)) {
            store_.count_redis(core::RedisCounter::CacheHits);
            return done(Prepared{});
        }
        store_.set_remote_not_live(request.key);
    }
    store_.count_redis(core::RedisCounter::CacheMisses);
    shm::Store::WantResult want =
        store_.want_remote(request.key, slot_, request.limits_if_created, now);
    if (want.status != Status::Ok)
        return done(Prepared{Status::Unavailable, std::string(core::describe(want.status))});
    if (want.live)
        return done(Prepared{});
    if (want.first)
        ask_relay(request);
    const ev_tstamp deadline = ev_now(loop_) + settings_.connection.command_timeout;
    std::vector<Waiting>& list = waiting_[want.uid];
    list.push_back({std::move(done), deadline});
    arm_waiting_timer();
}

void RedisBroker::ask_relay(const PrepareRequest& request) {
    const std::string datagram =
        redis::encode_ask({std::string(request.key), request.create_channel,
                           request.limits_if_created.channel_timeout_ms});
    // A full socket (the relay is down or behind) is not an error: the relay scans for wanted
    // channels when it starts, and the request times out into a 503 if nothing comes.
    if (::send(settings_.relay_fd, datagram.data(), datagram.size(), MSG_DONTWAIT) < 0 &&
        errno != EAGAIN && errno != ECONNREFUSED)
        LOG_ERROR("send(relay socket): %s", std::strerror(errno));
}

void RedisBroker::channel_live(std::uint64_t uid) {
    auto it = waiting_.find(uid);
    if (it == waiting_.end())
        return;
    std::vector<Waiting> ready = std::move(it->second);
    waiting_.erase(it);
    for (Waiting& w : ready) w.done(Prepared{});
}

void RedisBroker::arm_waiting_timer() {
    if (ev_is_active(&waiting_timer_))
        return;
    ev_tstamp first = 0;
    for (const auto& [uid, list] : waiting_)
        for (const Waiting& w : list)
            if (first == 0 || w.deadline < first)
                first = w.deadline;
    if (first == 0)
        return;
    ev_timer_set(&waiting_timer_, std::max(0.0, first - ev_now(loop_)), 0);
    ev_timer_start(loop_, &waiting_timer_);
}

void RedisBroker::expire_waiting() {
    const ev_tstamp now = ev_now(loop_);
    std::vector<std::function<void(Prepared &&)>> late;
    for (auto it = waiting_.begin(); it != waiting_.end();) {
        std::vector<Waiting>& list = it->second;
        for (auto w = list.begin(); w != list.end();) {
            if (w->deadline <= now) {
                late.push_back(std::move(w->done));
                w = list.erase(w);
            } else {
                ++w;
            }
        }
        it = list.empty() ? waiting_.erase(it) : std::next(it);
    }
    const std::string why = why_unavailable();
    for (auto& done : late) done(Prepared{Status::Unavailable, why});
    arm_waiting_timer();
}

void RedisBroker::on_waiting_timer(struct ev_loop*, ev_timer* w, int) {
    static_cast<RedisBroker*>(w->data)->expire_waiting();
}

// The worker's expiry tick also adds its connection's new counts to the node's figures.
void RedisBroker::expire() {
    cache_.expire();
    publish_counters();
}

void RedisBroker::publish_counters() {
    counted_.report(redis_.counters(), [this](core::RedisCounter counter, std::uint64_t n) {
        store_.count_redis(counter, n);
    });
}

// The answering worker's own counts are current; the other processes add theirs every second
// (workers) or every 100 ms (the relay).
Stats RedisBroker::stats() {
    publish_counters();
    Stats stats = cache_.stats();
    stats.redis_mode = true;
    return stats;
}

}  // namespace pushrelay::broker
