// push/stream.h — the streaming transports (EventSource, HTTP chunked, multipart/mixed): a
// persistent subscription that writes one frame per message on a response that never ends by
// itself (transports.md "EventSource", "HTTP chunked", "multipart/mixed", "Stream end").
#pragma once

#include <ev.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "core/message_id.h"
#include "http/connection.h"
#include "push/subscriptions.h"

namespace pushrelay::push {

enum class StreamKind : std::uint8_t { EventSource = 0, Chunked = 1, Multipart = 2 };

// `event: <event>\n` (when not empty), `id: <time>:<tag>\n`, then `data: ` lines cut after every
// `\n` of body, then `\n`.
std::string eventsource_frame(core::MessageId id, std::string_view event, std::string_view body);
// The same with the id as written (`<time>:<tag>`, or a multiplexed `<time>:<t1>,...,<tn>`).
std::string eventsource_frame(std::string_view id, std::string_view event, std::string_view body);
// One multipart part after the previous boundary, up to and including the `--` of the next one
// (the subscriber's boundary follows): `\r\nLast-Modified: ...\r\nEtag: <tag>\r\n`
// [`Content-Type: <ct>\r\n`] `\r\n<body>\r\n--`.
std::string multipart_part(core::MessageId id, std::string_view content_type,
                           std::string_view body);
// The same with the Etag as written (a tag, or a multiplexed tag list).
std::string multipart_part(std::int64_t time, std::string_view etag, std::string_view content_type,
                           std::string_view body);
// 32 characters of 0-9A-Za-z.
std::string make_boundary();
// An EventSource ping of `push` (push_eventsource_ping_*): `:<comment>\n`, `event: <event>\n`,
// `data: <data>\n`, each only when set, then `\n`.
std::string eventsource_ping(const conf::PushSettings& push);

class Stream final : public Subscription, private http::ExchangeObserver {
  public:
    // Begins the response at once: the head (200) and the preamble of `kind`.
    Stream(http::Exchange& exchange, StreamKind kind);
    ~Stream() override;

    bool one_shot() const override { return false; }
    core::SubscriberKind kind() const override;
    void deliver(const Payload& payload, DeliveryHeads& heads) override;
    void finish(Ending why) override;

  private:
    void exchange_aborted() override;
    // push_eventsource_ping_interval: from subscribe on, not reset by messages.
    static void on_ping(struct ev_loop* loop, ev_timer* w, int revents);

    http::Exchange& exchange_;
    struct ev_loop* loop_;  // the exchange's: kept for the timer, which outlives the exchange
    StreamKind kind_;
    bool gone_ = false;
    http::SharedBytes boundary_;  // multipart: the boundary itself, after each part's `--`
    ev_timer ping_;               // EventSource with a ping interval; inactive otherwise
};

}  // namespace pushrelay::push
