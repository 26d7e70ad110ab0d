// push/grip_link.h — one fetch of a stream hold's next link (shared/grip.md "Reliability"): a GET
// toward the location's origin whose answer is read whole and handed over in one piece, and the
// backoff between failed fetches.
//
// Worker process, the loop's thread only. A LinkFetch is owned by the stream hold that asked for
// it (push/grip_hold.h): destroying it abandons the request. It never touches the client's
// exchange: the hold decides what the answer means (parsed by grip::parse_instruction) and what
// reaches the client. GripProxy::fetch_link() builds the request (Grip-Sig, Grip-Feature,
// Grip-Last).
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <variant>

#include "upstream/client.h"

namespace pushrelay::push {

// A whole 2xx answer.
struct LinkAnswer {
    upstream::ResponseHead head;
    std::string body;
};

// Why a fetch gave no answer. `retry`: worth asking again (the origin failed or answered
// non-2xx); false when the answer itself is unusable (over push_grip_max_instruct_size).
struct LinkFailure {
    std::string reason;
    bool retry = true;
};

using LinkOutcome = std::variant<LinkAnswer, LinkFailure>;

class LinkFetch final : private upstream::Observer {
  public:
    // Called once, from the loop, never from inside the constructor. It may destroy the
    // LinkFetch.
    using Done = std::function<void(LinkOutcome)>;

    // Starts `request` on `pool` (which outlives this); an answer body over `max_body` bytes is
    // a failure.
    LinkFetch(upstream::Pool& pool, upstream::Request request, std::size_t max_body, Done done);
    ~LinkFetch() override;
    LinkFetch(const LinkFetch&) = delete;
    LinkFetch& operator=(const LinkFetch&) = delete;

  private:
    void on_head(const upstream::ResponseHead& head) override;
    void on_body(std::string_view bytes) override;
    void on_end() override;
    void on_error(std::string_view reason) override;
    // Ends the call and reports; nothing of `this` is used after `done_` runs.
    void report(LinkOutcome outcome);

    std::unique_ptr<upstream::Call> call_;
    std::size_t max_body_;
    Done done_;
    LinkAnswer answer_;
};

// Failed fetches retried before the stream ends (grip.md: after 1, 2, 4, 8 and 16 s).
inline constexpr int kLinkRetries = 5;

// The wait before retry `attempt` (0 for the first): unit × 2^attempt, plus `jitter` (0..1) of
// one unit (grip.md: 1, 2, 4, 8, 16 s + 0–1 s when `unit` is 1 s).
double link_retry_delay(int attempt, double unit, double jitter);

}  // namespace pushrelay::push
