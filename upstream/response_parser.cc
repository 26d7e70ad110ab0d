#include "upstream/response_parser.h"

#include <llhttp.h>

#include <new>
#include <optional>
#include <string>
#include <utility>

namespace pushrelay::upstream {

class ResponseParser::Impl {
  public:
    Impl(bool head_request, Limits limits);
    Impl(const Impl&) = delete;
    Impl& operator=(const Impl&) = delete;

    Step feed(const char* data, size_t len);
    Step finish();

    // llhttp callbacks, reached through the trampolines below; each returns an llhttp code.
    int on_message_begin();
    int on_status(const char* at, size_t len);
    int on_header_field(const char* at, size_t len);
    int on_header_field_complete();
    int on_header_value(const char* at, size_t len);
    int on_header_value_complete();
    int on_headers_complete();
    int on_body(const char* at, size_t len);
    int on_message_complete();
    // Records the first error (a static string) and returns the code that stops llhttp.
    int fail(const char* reason);

    ResponseHead head;
    bool keep_alive = false;
    bool started = false;
    std::string error;

  private:
    enum class Phase { Headers, Body, Complete, Failed };
    // What the callback that paused llhttp wants the caller told.
    enum class Pending { None, Head, Body, Complete };

    // The step to repeat once the response is over, else nullopt with llhttp ready to run.
    std::optional<Step> prepare();
    Step after_execute(llhttp_errno_t err, const char* data, size_t len);
    Step failed_step(llhttp_errno_t err);
    int count_header_bytes(size_t len);

    bool head_request_;
    Limits limits_;
    llhttp_t parser_;
    Phase phase_ = Phase::Headers;
    Pending pending_ = Pending::None;
    std::string_view body_;  // the piece on_body saw, for the Body step
    size_t header_bytes_ = 0;
    std::string field_;  // the header name being received
    // Debian's llhttp (no LLHTTP_STRICT_MODE) skips the two bytes after a chunk's data whatever
    // they are, so "5\r\nhelloXX0\r\n\r\n" would pass and a pooled connection could then read
    // the next response from the wrong place. on_body pauses at the end of each chunk's data, so
    // those bytes always start the next feed: this many of "\r\n" are still to be checked there.
    size_t crlf_due_ = 0;
    bool check_chunk_crlf(const char* data, size_t len);
};

namespace {

// Callbacks run inside llhttp's C code, which an exception must not unwind through: running out
// of memory while storing the head fails this response instead.
template <auto method, typename... Args>
int trampoline(llhttp_t* parser, Args... args) {
    auto* impl = static_cast<ResponseParser::Impl*>(parser->data);
    try {
        return (impl->*method)(args...);
    } catch (const std::bad_alloc&) {
        return impl->fail("out of memory");
    }
}

const llhttp_settings_t& settings() {
    static const llhttp_settings_t s = [] {
        using Impl = ResponseParser::Impl;
        llhttp_settings_t cb;
        llhttp_settings_init(&cb);
        cb.on_message_begin = trampoline<&Impl::on_message_begin>;
        cb.on_status = trampoline<&Impl::on_status, const char*, size_t>;
        cb.on_header_field = trampoline<&Impl::on_header_field, const char*, size_t>;
        cb.on_header_field_complete = trampoline<&Impl::on_header_field_complete>;
        cb.on_header_value = trampoline<&Impl::on_header_value, const char*, size_t>;
        cb.on_header_value_complete = trampoline<&Impl::on_header_value_complete>;
        cb.on_headers_complete = trampoline<&Impl::on_headers_complete>;
        cb.on_body = trampoline<&Impl::on_body, const char*, size_t>;
        cb.on_message_complete = trampoline<&Impl::on_message_complete>;
        return cb;
    }();
    return s;
}

}  // namespace

ResponseParser::Impl::Impl(bool head_request, Limits limits)
    : head_request_(head_request), limits_(limits) {
    llhttp_init(&parser_, HTTP_RESPONSE, &settings());
    parser_.data = this;
}

std::optional<ResponseParser::Step> ResponseParser::Impl::prepare() {
    if (phase_ == Phase::Failed) {
        return Step{Event::Error, 0, {}};
    }
    if (phase_ == Phase::Complete) {
        return Step{Event::Complete, 0, {}};
    }
    if (llhttp_get_errno(&parser_) == HPE_PAUSED) {
        llhttp_resume(&parser_);  // we paused at the last event; the caller has handled it
    }
    return std::nullopt;
}

ResponseParser::Step ResponseParser::Impl::feed(const char* data, size_t len) {
    if (std::optional<Step> over = prepare()) {
        return *over;
    }
    started = started || len > 0;
    if (!check_chunk_crlf(data, len)) {
        fail("malformed response: expected CRLF after chunk");
        phase_ = Phase::Failed;
        return {Event::Error, 0, {}};
    }
    static constexpr char kEmpty[1] = {};
    const char* bytes = data != nullptr ? data : kEmpty;
    return after_execute(llhttp_execute(&parser_, bytes, len), bytes, len);
}

ResponseParser::Step ResponseParser::Impl::after_execute(llhttp_errno_t err, const char* data,
                                                         size_t len) {
    if (err == HPE_OK) {
        return {Event::NeedMore, len, {}};
    }
    if (err != HPE_PAUSED) {
        return failed_step(err);
    }
    size_t consumed = static_cast<size_t>(llhttp_get_error_pos(&parser_) - data);
    Pending pending = std::exchange(pending_, Pending::None);
    switch (pending) {
        case Pending::Head:
            return {Event::Head, consumed, {}};
        case Pending::Body:
            return {Event::Body, consumed, body_};
        case Pending::Complete:
            return {Event::Complete, consumed, {}};
        case Pending::None:
            break;
    }
    return failed_step(HPE_INTERNAL);  // every pause of ours sets pending_
}

ResponseParser::Step ResponseParser::Impl::failed_step(llhttp_errno_t err) {
    if (error.empty()) {
        const char* reason = llhttp_get_error_reason(&parser_);
        error = "malformed response: ";
        error += reason != nullptr ? reason : llhttp_errno_name(err);
    }
    phase_ = Phase::Failed;
    return {Event::Error, 0, {}};
}

ResponseParser::Step ResponseParser::Impl::finish() {
    if (std::optional<Step> over = prepare()) {
        return *over;
    }
    // llhttp_finish() completes a close-delimited body (calling on_message_complete, which
    // pauses) and returns HPE_OK in the idle state between messages; anything else is cut.
    llhttp_errno_t err = llhttp_finish(&parser_);
    if (phase_ == Phase::Complete) {
        pending_ = Pending::None;
        return {Event::Complete, 0, {}};
    }
    (void)err;
    error = started ? "truncated response" : "origin closed the connection without a response";
    phase_ = Phase::Failed;
    return {Event::Error, 0, {}};
}

bool ResponseParser::Impl::check_chunk_crlf(const char* data, size_t len) {
    for (size_t i = 0; crlf_due_ > 0 && i < len; ++i, --crlf_due_) {
        if (data[i] != "\r\n"[2 - crlf_due_]) {
            return false;
        }
    }
    return true;
}

int ResponseParser::Impl::fail(const char* reason) {
    if (error.empty()) {
        error = reason;
    }
    return HPE_USER;
}

int ResponseParser::Impl::count_header_bytes(size_t len) {
    header_bytes_ += len;
    return header_bytes_ > limits_.max_header_bytes
               ? fail("malformed response: header block too large")
               : HPE_OK;
}

int ResponseParser::Impl::on_message_begin() {
    // A new message after an interim (1xx) one: only the final head is reported.
    head = ResponseHead{};
    header_bytes_ = 0;
    return HPE_OK;
}

int ResponseParser::Impl::on_status(const char* at, size_t len) {
    head.reason.append(at, len);
    return count_header_bytes(len);
}

int ResponseParser::Impl::on_header_field(const char* at, size_t len) {
    field_.append(at, len);
    return count_header_bytes(len);
}

int ResponseParser::Impl::on_header_field_complete() {
    // llhttp 8.1 lets a space inside a field name through; such a name is not a token, and a
    // response whose framing headers we might read differently from the next hop is refused.
    if (!protocol::is_token(field_)) {
        return fail("malformed response: invalid header field name");
    }
    if (head.headers.size() >= limits_.max_headers) {
        return fail("malformed response: too many header fields");
    }
    head.headers.push_back(protocol::Header{std::move(field_), {}});
    field_.clear();
    return HPE_OK;
}

int ResponseParser::Impl::on_header_value(const char* at, size_t len) {
    head.headers.back().value.append(at, len);
    return count_header_bytes(len);
}

int ResponseParser::Impl::on_header_value_complete() {
    std::string& value = head.headers.back().value;
    std::string_view trimmed = protocol::trim_ows(value);
    value = std::string(trimmed);
    return HPE_OK;
}

int ResponseParser::Impl::on_headers_complete() {
    head.status = parser_.status_code;
    head.http_major = parser_.http_major;
    head.http_minor = parser_.http_minor;
    if (head.http_major != 1) {
        return fail("malformed response: HTTP version other than 1.x");
    }
    if (head.status == 101) {
        // We never ask for an upgrade (the caller strips Upgrade), so this is not HTTP any more.
        return fail("malformed response: unexpected 101 Switching Protocols");
    }
    if (head.status / 100 == 1) {
        return HPE_OK;  // interim: parsed and dropped; on_message_begin starts the final head
    }
    // RFC 9112 §6.3: these never have a body, whatever Content-Length says; F_SKIPBODY is what
    // llhttp's own "return 1" sets, which we cannot return while pausing.
    head.bodiless = head_request_ || head.status == 204 || head.status == 304;
    if (head.bodiless) {
        parser_.flags |= F_SKIPBODY;
    }
    head.chunked = (parser_.flags & F_CHUNKED) != 0 && !head.bodiless;
    phase_ = Phase::Body;
    pending_ = Pending::Head;
    return HPE_PAUSED;
}

int ResponseParser::Impl::on_body(const char* at, size_t len) {
    if (len == 0) {
        return HPE_OK;  // llhttp flushes an open body span at the end of every feed, even empty
    }
    body_ = std::string_view(at, len);
    pending_ = Pending::Body;
    // In a chunked body, content_length counts what is left of the current chunk.
    if ((parser_.flags & F_CHUNKED) != 0 && parser_.content_length == 0) {
        crlf_due_ = 2;
    }
    return HPE_PAUSED;
}

int ResponseParser::Impl::on_message_complete() {
    if (phase_ != Phase::Body) {
        return HPE_OK;  // the end of an interim response
    }
    keep_alive = llhttp_should_keep_alive(&parser_) != 0;
    phase_ = Phase::Complete;
    pending_ = Pending::Complete;
    return HPE_PAUSED;
}

ResponseParser::ResponseParser(bool head_request, Limits limits)
    : impl_(std::make_unique<Impl>(head_request, limits)) {}

ResponseParser::~ResponseParser() = default;

ResponseParser::Step ResponseParser::feed(const char* data, size_t len) {
    return impl_->feed(data, len);
}

ResponseParser::Step ResponseParser::finish() {
    return impl_->finish();
}

const ResponseHead& ResponseParser::head() const {
    return impl_->head;
}

bool ResponseParser::keep_alive() const {
    return impl_->keep_alive;
}

bool ResponseParser::started() const {
    return impl_->started;
}

std::string_view ResponseParser::error() const {
    return impl_->error;
}

}  // namespace pushrelay::upstream
