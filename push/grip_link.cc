#include "push/grip_link.h"

#include <utility>

namespace pushrelay::push {

LinkFetch::LinkFetch(upstream::Pool& pool, upstream::Request request, std::size_t max_body,
                     Done done)
    : max_body_(max_body), done_(std::move(done)) {
    call_ = pool.start(std::move(request), *this);
}

LinkFetch::~LinkFetch() = default;

void LinkFetch::on_head(const upstream::ResponseHead& head) {
    if (head.status < 200 || head.status > 299)
        return report(LinkFailure{"next link answered " + std::to_string(head.status)});
    answer_.head = head;
}

void LinkFetch::on_body(std::string_view bytes) {
    if (answer_.body.size() + bytes.size() > max_body_)
        return report(LinkFailure{"next link answer over push_grip_max_instruct_size", false});
    answer_.body.append(bytes);
}

void LinkFetch::on_end() {
    report(std::move(answer_));
}

void LinkFetch::on_error(std::string_view reason) {
    report(LinkFailure{"next link: " + std::string(reason)});
}

void LinkFetch::report(LinkOutcome outcome) {
    call_.reset();
    // Moved out first: the callback may destroy this object, and with it done_.
    Done done = std::move(done_);
    done(std::move(outcome));
}

double link_retry_delay(int attempt, double unit, double jitter) {
    return unit * static_cast<double>(1 << attempt) + unit * jitter;
}

}  // namespace pushrelay::push
