// ws/session.h — one upgraded WebSocket connection, after the 101 (RFC 6455 §5-§7).
//
// A Session owns the socket it was handed (http::Exchange::upgrade's takeover), its libev
// watchers and timers, a wslay event context that reads the client's frames (masking,
// fragmentation, control frames, the message size limit, UTF-8 of text: wslay enforces the
// framing rules, nothing here parses a frame by hand), and one output queue. Everything written
// goes through that queue: wslay's own frames (PONG, close) are copied into it whole, and
// message frames built once per message (ws/frame.h) are shared into it, so control replies and
// messages never interleave inside a frame. Output is written once per loop turn, just before the
// loop waits again (an ev_prepare: no system call to arm it), so a burst of messages leaves in
// one writev(); a full socket is then waited for with the write watcher.
//
// What the session does by itself: PONG to each PING (same payload), PONG ignored, the client's
// close echoed (code and reason) then TCP closed; PING every ping interval, and close 1000 plus
// TCP close when no PONG came since the last one; after its own close frame, TCP closes when the
// client's close arrives or 250 ms pass; a client that lets more than max_unsent_bytes pile up is
// cut off. It knows nothing of channels or of what a message means: the owner is told of each
// text or binary message and, once, of the end (SessionObserver).
//
// Worker processes only. Single-threaded: every call comes from the loop's callbacks.
#pragma once

#include <ev.h>
#include <wslay/wslay.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/output_queue.h"
#include "core/unique_fd.h"
#include "ws/frame.h"

namespace pushrelay::ws {

class Session;

class SessionObserver {
  public:
    virtual ~SessionObserver() = default;
    // A whole text or binary message from the client (text is valid UTF-8: wslay checks it).
    // Not called once the session closes. The observer may send() or close() from here.
    virtual void message_received(Session& session, Opcode opcode, std::string_view payload) = 0;
    // The session is over (closed either way, cut off, or the client went away) and its socket
    // is closed. Called once, from a loop callback of its own, never inside a call the owner
    // made; the observer may destroy the session here (the session touches nothing after it).
    virtual void session_closed(Session& session) = 0;
};

struct SessionOptions {
    // Bytes queued and not yet written beyond which the client is cut off as a slow reader
    // (checked after each write, once per loop turn).
    std::size_t max_unsent_bytes = std::size_t{4} << 20;
    // Seconds between server PINGs; 0: none (and no dead-client detection).
    double ping_interval = 0;
    // The longest client message accepted (fragments together); longer: close 1009.
    std::uint64_t max_message_length = std::uint64_t{1} << 20;
    // false: any text or binary frame closes with 1008 `Publishing not allowed.` (a subscriber).
    bool accept_messages = true;
};

class Session {
  public:
    // Takes the socket (non-blocking) and the bytes the client sent after its handshake.
    // `observer` must outlive the session; `peer` names the client in log lines.
    Session(struct ev_loop* loop, core::UniqueFd socket, std::string unread_input,
            const SessionOptions& options, SessionObserver& observer, std::string peer);
    // Closes the socket if still open, without telling the observer.
    ~Session();
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    // Starts reading (the unread input first) and the ping timer.
    void start();
    // Queues one complete frame (ws/frame.h), possibly shared with other sessions. Ignored once
    // the session is closing. Past max_unsent_bytes once written, the session is cut off (told
    // from the loop).
    void send(core::SharedBytes frame);
    // Queues the close frame (code, reason; code 0: no status) and stops sending messages; TCP
    // closes when the client's close arrives or 250 ms pass. Precondition: reason <= 123 bytes.
    // A second call does nothing.
    void close(std::uint16_t code, std::string_view reason);

    // A close frame was queued (by either side): no message frame will follow.
    bool closing() const { return close_queued_ || done_; }
    std::size_t unsent_bytes() const { return output_.bytes(); }
    const std::string& peer() const { return peer_; }

  private:
    static ssize_t recv_callback(wslay_event_context_ptr, uint8_t* buf, size_t len, int flags,
                                 void* user_data);
    static ssize_t send_callback(wslay_event_context_ptr, const uint8_t* data, size_t len,
                                 int flags, void* user_data);
    static void on_frame_start(wslay_event_context_ptr,
                               const struct wslay_event_on_frame_recv_start_arg* arg,
                               void* user_data);
    static void on_message(wslay_event_context_ptr, const struct wslay_event_on_msg_recv_arg* arg,
                           void* user_data);
    static void on_readable(struct ev_loop* loop, ev_io* w, int revents);
    static void on_writable(struct ev_loop* loop, ev_io* w, int revents);
    static void on_prepare(struct ev_loop* loop, ev_prepare* w, int revents);
    static void on_ping_timer(struct ev_loop* loop, ev_timer* w, int revents);
    static void on_linger_timer(struct ev_loop* loop, ev_timer* w, int revents);
    static void on_report(struct ev_loop* loop, ev_timer* w, int revents);

    void read_input();
    // Moves what wslay queued (PONG, close) into the output queue, whole frames only.
    void pump();
    void queue(core::SharedBytes bytes);
    // A slow reader: more than max_unsent_bytes wait while the socket is full.
    void cut_off_if_over_bound();
    void flush();
    // Closes TCP now if the closing handshake allows it.
    void maybe_finish();
    // A protocol error wslay's frame layer reported: close 1002 and TCP.
    void fail_protocol();
    // Stops everything, closes the socket and schedules the observer's session_closed().
    void finish();

    struct ev_loop* loop_;
    core::UniqueFd socket_;
    std::string input_;  // unread bytes from the handshake's connection, served first
    std::size_t input_pos_ = 0;
    SessionOptions options_;
    SessionObserver& observer_;
    std::string peer_;
    wslay_event_context_ptr ctx_ = nullptr;
    ev_io read_watcher_, write_watcher_;
    ev_prepare flush_watcher_;  // writes what this loop turn queued
    ev_timer ping_timer_, linger_timer_, report_timer_;
    core::OutputQueue output_;
    std::string wslay_out_;           // what wslay_event_send() wrote during one pump()
    std::size_t read_budget_ = 0;     // bytes read this readiness event (fairness between clients)
    bool eof_ = false;                // the client closed its side (or reset)
    bool own_close_ = false;          // the close frame queued is ours (close()), not wslay's
    bool close_queued_ = false;       // a close frame is queued or sent
    bool close_after_flush_ = false;  // TCP closes once the output is written
    bool awaiting_pong_ = false;
    bool shut_ = false;  // our write side is shut (failing the connection)
    bool done_ = false;  // finish() ran
};

}  // namespace pushrelay::ws
