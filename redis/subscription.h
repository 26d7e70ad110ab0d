// redis/subscription.h — the relay's subscription connection to one Redis server (one per shard
// in a Cluster): the channels the node wants, kept SUBSCRIBEd across reconnects, and the
// messages published to them (shared/scale-out.md "Processes and connections", "Notification
// path and resync", "Redis Cluster").
//
// Run by the relay process only, single-threaded on its libev loop. It drives its own
// non-blocking socket with hiredis's redisReader (scale-out.md says why: hiredis 0.14's async
// layer knows no SSUBSCRIBE and loses the callback of a PING in subscribed mode); commands are
// formatted with redisFormatCommandArgv. It shares redis/link.h's policy with the command
// Connection: settings, backoff, failure reports. It routes nothing: which shard a channel
// belongs to is the caller's; it decodes no frame (redis/frames.h).
//
// Life of a connection:
//   down --attempt--> connecting --setup answered--> up --lost/timeout/error--> down --backoff-->
//   - Setup, pipelined: AUTH (with a password), SELECT (db != 0), CLIENT SETNAME (its failure
//     ignored), then SUBSCRIBE (SSUBSCRIBE when sharded) of every wanted channel, many to a
//     command. TCP connect and setup must be done within connect_timeout. A channel is
//     confirmed (on_subscribed) as its own confirmation arrives, so before on_up.
//   - Up, while nothing is awaited, a PING goes out after command_timeout/2 of silence; while a
//     reply is awaited, command_timeout without a byte from Redis declares the connection dead.
//     Any byte counts: a large pubsub backlog is alive.
//   - An error reply to SUBSCRIBE (NOPERM for a user without channel rights) or a protocol error
//     ends the connection like a lost one, and the next attempt comes after the backoff.
//
// Invariant: on_message(c) is called only between on_subscribed(c) and the next unsubscribe(c)
// or on_down; so a message seen is never one from before a gap the caller has not been told of.
#pragma once

#include <ev.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/unique_fd.h"
#include "redis/link.h"

struct redisReader;
struct redisReply;

namespace pushrelay::redis {

// Told of the subscription's changes and messages, from the loop only: never from inside the
// constructor, subscribe() or unsubscribe(). No callback may destroy the Subscription; each may
// call subscribe() and unsubscribe().
class SubscriptionObserver {
  public:
    virtual ~SubscriptionObserver() = default;
    // Connected and set up: every channel wanted when the connection was made has been confirmed
    // (or, sharded, reported moved).
    virtual void on_up() = 0;
    // Once per change, as redis/link.h's DownReports says. Every channel is unconfirmed from now
    // on, and messages published until its next on_subscribed are not seen.
    virtual void on_down(const Failure& failure) = 0;
    // Redis confirmed the subscription of `channel`: from now on every publish to it reaches us.
    // Called again after every reconnect. The view lives until the callback returns.
    virtual void on_subscribed(std::string_view channel) = 0;
    // A message (smessage when sharded) on a confirmed channel, binary-safe, in Redis's order.
    // The views live until the callback returns.
    virtual void on_message(std::string_view channel, std::string_view payload) = 0;
    // Sharded only: `channel`'s slot is served by another shard (a MOVED reply to SSUBSCRIBE, or
    // Redis unsubscribing us when the slot left this shard). The channel is no longer wanted
    // here: the caller routes it again.
    virtual void on_moved(std::string_view /*channel*/) {}
};

class Subscription {
  public:
    struct Counters {
        std::uint64_t attempts = 0;  // connections tried
        std::uint64_t connects = 0;  // connections that completed setup
    };

    // `loop` and `observer` must outlive the Subscription. `sharded`: SSUBSCRIBE, SUNSUBSCRIBE
    // and smessage (Redis Cluster) instead of SUBSCRIBE, UNSUBSCRIBE and message. The first
    // attempt starts from the loop, never inside the constructor. Settings::scripts is unused.
    Subscription(struct ev_loop* loop, Settings settings, bool sharded,
                 SubscriptionObserver& observer);
    // Closes the connection; no callback is called.
    ~Subscription();
    Subscription(const Subscription&) = delete;
    Subscription& operator=(const Subscription&) = delete;

    // Idempotent. The channel is wanted until unsubscribe(): SUBSCRIBEd now if connected (the
    // calls of one loop iteration batched into few commands), else at the next connect, and at
    // every reconnect after. Its on_subscribed follows Redis's confirmation. `channel` is the
    // pubsub channel's full name (redis/keys.h), binary-safe.
    void subscribe(std::string channel);
    // Idempotent. No message on `channel` is delivered after this call; UNSUBSCRIBE goes out if
    // the channel was subscribed on this connection, and its confirmation is consumed.
    void unsubscribe(const std::string& channel);

    bool up() const { return state_ == State::Up; }
    // The setup's commands may be written: set up or setting up.
    bool connected() const { return state_ == State::SettingUp || state_ == State::Up; }
    // Wanted channels whose subscription Redis confirmed on the current connection.
    std::size_t channels() const { return confirmed_; }
    // Wanted channels, confirmed or not.
    std::size_t wanted() const { return wanted_.size(); }
    const Counters& counters() const { return counters_; }

  private:
    // Connecting: the TCP connect is under way; SettingUp: AUTH, SELECT, CLIENT SETNAME are.
    enum class State : std::uint8_t { Down, Connecting, SettingUp, Up };

    struct Channel {
        std::uint64_t subscribed_by = 0;  // the SUBSCRIBE that last named it here; 0: not sent
        bool confirmed = false;
    };
    // A command written to Redis and not yet fully answered; answers come in the order sent.
    struct Sent {
        enum class Kind : std::uint8_t { Setup, Subscribe, Unsubscribe, Ping };
        Kind kind = Kind::Setup;
        std::string name;                   // the command, for a failure's reason
        bool errors_ignored = false;        // CLIENT SETNAME
        std::vector<std::string> channels;  // (UN)SUBSCRIBE: one confirmation each, in order
        std::size_t answered = 0;           // confirmations received
        std::uint64_t id = 0;               // for Subscribe: compared with Channel::subscribed_by
        ev_tstamp sent_at = 0;
    };

    // One of the connection's own commands, which name no channel (setup, PING).
    static Sent own_command(Sent::Kind kind, std::string name, bool errors_ignored = false);

    void attempt();
    void on_connected();
    void start_setup();
    void become_up();

    void send(Sent sent, const std::vector<std::string>& argv);
    void schedule_flush();
    void flush();
    void send_channel_batches(Sent::Kind kind, std::vector<std::string> channels);
    void write_out();
    void read_in();
    void watch_io(int events);

    void on_reply(const redisReply& reply);
    void on_push(std::string_view kind, const redisReply& reply);
    void on_confirmation(Sent::Kind kind, std::string_view channel);
    void on_error_reply(std::string_view error);
    void drop_moved();
    void lose_channel(std::string_view channel);
    bool answers_front(Sent::Kind kind, std::string_view channel) const;
    // The front command got one more answer; popped when fully answered.
    void answered();
    void pop_front();

    void drop(Failure failure);
    ev_tstamp deadline() const;
    void arm_deadline();
    void check_deadline();

    static void on_io(struct ev_loop* loop, ev_io* w, int revents);
    static void on_deadline_timer(struct ev_loop* loop, ev_timer* w, int revents);
    static void on_retry_timer(struct ev_loop* loop, ev_timer* w, int revents);
    static void on_flush_timer(struct ev_loop* loop, ev_timer* w, int revents);

    struct ev_loop* loop_;
    const Settings settings_;
    const bool sharded_;
    SubscriptionObserver& observer_;

    State state_ = State::Down;
    core::UniqueFd socket_;
    int io_events_ = 0;              // what io_ watches; 0: stopped
    redisReader* reader_ = nullptr;  // owned; set while connecting or up
    std::string out_;                // formatted commands not yet written
    std::deque<Sent> sent_;          // in the order sent, which is the order Redis answers
    std::uint64_t next_id_ = 1;
    ev_tstamp attempt_started_ = 0;
    ev_tstamp last_byte_at_ = 0;  // the last byte read from Redis

    std::unordered_map<std::string, Channel> wanted_;
    std::vector<std::string> to_subscribe_;    // wanted, not yet sent on this connection
    std::vector<std::string> to_unsubscribe_;  // no longer wanted, subscribed on this connection
    std::size_t confirmed_ = 0;

    Backoff backoff_;
    DownReports down_reports_;
    Counters counters_;

    ev_io io_;
    ev_timer deadline_timer_;  // connecting: connect_timeout; up: the reply deadline or the PING
    ev_timer retry_timer_;     // down: the next attempt
    ev_timer flush_timer_;     // a zero delay: this loop iteration's (un)subscribes, batched
};

}  // namespace pushrelay::redis
