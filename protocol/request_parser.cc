#include "protocol/request_parser.h"

#include <llhttp.h>

#include <algorithm>
#include <new>
#include <optional>
#include <utility>

#include "protocol/query.h"

namespace pushrelay::protocol {

namespace {

// What a connection keeps of a finished request's strings for the next one (the requests of a
// long-poll client look alike: the same header names, values of the same length). Larger ones
// are freed, so one big request does not pin its memory for the connection's lifetime.
constexpr size_t kKeptStringCapacity = 256;
constexpr size_t kKeptHeaders = 32;

void recycle(std::string& s) {
    if (s.capacity() > kKeptStringCapacity) {
        std::string().swap(s);
    } else {
        s.clear();
    }
}

bool starts_with_icase(std::string_view s, std::string_view prefix) {
    return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

struct TargetParts {
    std::string_view path;   // still percent-encoded
    std::string_view query;  // after the first '?'
};

// The origin-form part of an absolute-form target ("http://host:port/p?q" → "/p?q"), which
// RFC 9112 §3.2.2 says a server must accept; nullopt for a scheme other than http(s).
std::optional<std::string_view> strip_scheme_and_authority(std::string_view target) {
    for (std::string_view scheme : {"http://", "https://"}) {
        if (starts_with_icase(target, scheme)) {
            std::string_view rest = target.substr(scheme.size());
            size_t end = rest.find_first_of("/?");
            return end == std::string_view::npos ? std::string_view{} : rest.substr(end);
        }
    }
    return std::nullopt;
}

// Path and query of a request-target in origin-form, absolute-form or asterisk-form ("*", for
// OPTIONS). An authority-form target (CONNECT) or anything else is not a resource we serve.
std::optional<TargetParts> split_target(std::string_view target) {
    std::string_view resource = target;
    if (target != "*" && !target.starts_with('/')) {
        std::optional<std::string_view> origin = strip_scheme_and_authority(target);
        if (!origin) {
            return std::nullopt;
        }
        resource = *origin;
    }
    size_t question = resource.find('?');
    TargetParts parts{resource.substr(0, question), {}};
    if (question != std::string_view::npos) {
        parts.query = resource.substr(question + 1);
    }
    if (parts.path.empty()) {
        parts.path = "/";  // RFC 9110 §4.2.3: an empty path is "/"
    }
    return parts;
}

}  // namespace

const std::string* Request::header(std::string_view name) const {
    return find_header(headers, name);
}

class RequestParser::Impl {
  public:
    explicit Impl(Limits limits);
    Impl(const Impl&) = delete;
    Impl& operator=(const Impl&) = delete;

    Step feed(const char* data, size_t len);
    void set_body_limit(uint64_t max_bytes);
    void reset();

    // llhttp callbacks (see the trampolines below). Each returns an llhttp return code.
    int on_url(const char* at, size_t len);
    int on_version_complete();
    int on_header_field(const char* at, size_t len);
    int on_header_field_complete();
    int on_header_value(const char* at, size_t len);
    int on_header_value_complete();
    int on_headers_complete();
    int on_body(const char* at, size_t len);
    int on_message_complete();

    // Records the first error and returns the code that makes llhttp stop. `reason` must be a
    // string literal (or otherwise static): error_reason() returns a view of it.
    int fail(int status, std::string_view reason);

    Request request;
    int error_status = 0;
    std::string_view error_reason;

  private:
    enum class Phase { Headers, Body, Complete, Failed };

    Step fail_now(int status, std::string_view reason);
    // The header-bytes limit is reached: 414 while the request line is still arriving (as nginx
    // answers a request line that does not fit its buffers), 431 once the headers are.
    Step fail_oversize();
    Step after_execute(llhttp_errno_t err, const char* data, size_t given, size_t len);
    void map_llhttp_error(llhttp_errno_t err);
    // Fills request.path and request.query from request.target.
    int store_target();
    // Checks the CRLF that must follow a chunk's data against the bytes from p to the end of the
    // buffer being fed, remembering how much of it is still to come; false on any other byte.
    bool check_chunk_crlf(const char* p);

    Limits limits_;
    llhttp_t parser_;
    Phase phase_ = Phase::Headers;
    size_t header_bytes_ = 0;  // bytes of the header block seen so far (bounded by the limit)
    bool request_line_done_ = false;  // its HTTP version was read: what follows is headers
    uint64_t body_limit_ = 0;
    bool paused_ = false;  // llhttp returned HPE_PAUSED and needs llhttp_resume()
    std::string field_;    // name of the header field being received
    // Headers of earlier requests, emptied, whose strings' capacity the next request reuses
    // instead of allocating (a poll's If-Modified-Since is past the small-string size).
    std::vector<Header> spare_headers_;

    void recycle_request();
    // Debian's llhttp is built without LLHTTP_STRICT_MODE, and then skips the two bytes after a
    // chunk's data whatever they are: "5\r\nhelloXX0\r\n\r\n" would be a valid body, which a
    // proxy in front of us may read differently (request smuggling). So we check them ourselves.
    const char* feed_end_ = nullptr;  // end of the bytes given to the current llhttp_execute
    size_t chunk_crlf_seen_ = 2;      // bytes of the CRLF after chunk data checked; 2: none due
};

namespace {

using DataMethod = int (RequestParser::Impl::*)(const char*, size_t);
using EventMethod = int (RequestParser::Impl::*)();

// The callbacks run inside llhttp's C code, which exceptions must not unwind through: an
// allocation failure becomes a 500 error of this request instead.
template <DataMethod method>
int data_callback(llhttp_t* parser, const char* at, size_t len) {
    auto* impl = static_cast<RequestParser::Impl*>(parser->data);
    try {
        return (impl->*method)(at, len);
    } catch (const std::bad_alloc&) {
        return impl->fail(500, "out of memory");
    }
}

template <EventMethod method>
int event_callback(llhttp_t* parser) {
    auto* impl = static_cast<RequestParser::Impl*>(parser->data);
    try {
        return (impl->*method)();
    } catch (const std::bad_alloc&) {
        return impl->fail(500, "out of memory");
    }
}

const llhttp_settings_t& parser_settings() {
    static const llhttp_settings_t settings = [] {
        using Impl = RequestParser::Impl;
        llhttp_settings_t s;
        llhttp_settings_init(&s);
        s.on_url = data_callback<&Impl::on_url>;
        s.on_version_complete = event_callback<&Impl::on_version_complete>;
        s.on_header_field = data_callback<&Impl::on_header_field>;
        s.on_header_field_complete = event_callback<&Impl::on_header_field_complete>;
        s.on_header_value = data_callback<&Impl::on_header_value>;
        s.on_header_value_complete = event_callback<&Impl::on_header_value_complete>;
        s.on_headers_complete = event_callback<&Impl::on_headers_complete>;
        s.on_body = data_callback<&Impl::on_body>;
        s.on_message_complete = event_callback<&Impl::on_message_complete>;
        return s;
    }();
    return settings;
}

}  // namespace

RequestParser::Impl::Impl(Limits limits) : limits_(limits) {
    llhttp_init(&parser_, HTTP_REQUEST, &parser_settings());
    parser_.data = this;
}

RequestParser::Step RequestParser::Impl::feed(const char* data, size_t len) {
    if (phase_ == Phase::Failed) {
        return {Event::Error, 0};
    }
    if (phase_ == Phase::Complete) {
        return {Event::MessageComplete, 0};  // the caller has not called reset() yet
    }
    if (paused_) {
        llhttp_resume(&parser_);
        paused_ = false;
    }
    // Only as many header bytes as the limit allows reach llhttp, so a header block is never
    // buffered beyond it: if llhttp wants more after that, the block is too large.
    size_t given = len;
    if (phase_ == Phase::Headers) {
        given = std::min(len, limits_.max_header_bytes - header_bytes_);
        if (given == 0 && len > 0) {
            return fail_oversize();
        }
    }
    static constexpr char kEmpty[1] = {};
    const char* bytes = data != nullptr ? data : kEmpty;
    feed_end_ = bytes + given;
    if (!check_chunk_crlf(bytes)) {
        return fail_now(400, "Expected CRLF after chunk");
    }
    return after_execute(llhttp_execute(&parser_, bytes, given), bytes, given, len);
}

RequestParser::Step RequestParser::Impl::after_execute(llhttp_errno_t err, const char* data,
                                                       size_t given, size_t len) {
    if (err == HPE_OK) {
        if (phase_ == Phase::Headers) {
            header_bytes_ += given;
            if (given < len) {
                return fail_oversize();
            }
        }
        return {Event::NeedMore, given};
    }
    if (err == HPE_PAUSED) {
        paused_ = true;
        size_t consumed = static_cast<size_t>(llhttp_get_error_pos(&parser_) - data);
        return {phase_ == Phase::Complete ? Event::MessageComplete : Event::HeadersComplete,
                consumed};
    }
    map_llhttp_error(err);
    phase_ = Phase::Failed;
    return {Event::Error, 0};
}

void RequestParser::Impl::map_llhttp_error(llhttp_errno_t err) {
    if (error_status != 0) {
        return;  // one of our callbacks failed and said why
    }
    if (err == HPE_PAUSED_H2_UPGRADE) {
        error_status = 505;
        error_reason = "HTTP/2 is not supported";
        return;
    }
    error_status = 400;
    const char* reason = llhttp_get_error_reason(&parser_);
    // llhttp's reasons are string literals in its generated code, so the view stays valid.
    error_reason = reason != nullptr ? reason : llhttp_errno_name(err);
}

RequestParser::Step RequestParser::Impl::fail_now(int status, std::string_view reason) {
    fail(status, reason);
    phase_ = Phase::Failed;
    return {Event::Error, 0};
}

RequestParser::Step RequestParser::Impl::fail_oversize() {
    return request_line_done_ ? fail_now(431, "request header block too large")
                              : fail_now(414, "request line too long");
}

int RequestParser::Impl::fail(int status, std::string_view reason) {
    if (error_status == 0) {
        error_status = status;
        error_reason = reason;
    }
    return HPE_USER;
}

void RequestParser::Impl::set_body_limit(uint64_t max_bytes) {
    body_limit_ = max_bytes;
    if (max_bytes == 0 || phase_ != Phase::Body || (parser_.flags & F_CONTENT_LENGTH) == 0) {
        return;
    }
    // No reserve() for the announced length: a client that announces a large body and sends
    // nothing would pin that memory for as long as it stays connected.
    if (parser_.content_length > max_bytes) {
        fail(413, "request body larger than the limit");
        phase_ = Phase::Failed;
    }
}

void RequestParser::Impl::reset() {
    llhttp_reset(&parser_);  // keeps parser_.data and the settings
    recycle_request();
    error_status = 0;
    error_reason = {};
    phase_ = Phase::Headers;
    header_bytes_ = 0;
    request_line_done_ = false;
    body_limit_ = 0;
    paused_ = false;
    field_.clear();
    chunk_crlf_seen_ = 2;
}

void RequestParser::Impl::recycle_request() {
    // Cleared rather than replaced: the next request reuses the strings' and vector's memory.
    recycle(request.method);
    recycle(request.target);
    recycle(request.path);
    recycle(request.query);
    recycle(request.body);
    request.http_major = 1;
    request.http_minor = 1;
    request.keep_alive = false;
    for (Header& h : request.headers) {
        if (spare_headers_.size() >= kKeptHeaders) {
            break;
        }
        recycle(h.name);
        recycle(h.value);
        spare_headers_.push_back(std::move(h));
    }
    request.headers.clear();
    if (request.headers.capacity() > kKeptHeaders) {
        std::vector<Header>().swap(request.headers);
    }
}

int RequestParser::Impl::on_url(const char* at, size_t len) {
    request.target.append(at, len);
    return HPE_OK;
}

int RequestParser::Impl::on_version_complete() {
    request_line_done_ = true;
    return HPE_OK;
}

int RequestParser::Impl::on_header_field(const char* at, size_t len) {
    field_.append(at, len);
    return HPE_OK;
}

int RequestParser::Impl::on_header_field_complete() {
    // llhttp 8.1 lets a space inside a field name through ("Transfer Encoding: chunked"); a name
    // that is not a token is how request-smuggling attempts look, so it is refused here.
    if (!is_token(field_)) {
        return fail(400, "invalid header field name");
    }
    if (request.headers.size() >= limits_.max_headers) {
        return fail(431, "too many request header fields");
    }
    if (spare_headers_.empty()) {
        request.headers.push_back(Header{field_, {}});
    } else {
        request.headers.push_back(std::move(spare_headers_.back()));
        spare_headers_.pop_back();
        request.headers.back().name.assign(field_);
    }
    field_.clear();
    return HPE_OK;
}

int RequestParser::Impl::on_header_value(const char* at, size_t len) {
    request.headers.back().value.append(at, len);
    return HPE_OK;
}

int RequestParser::Impl::on_header_value_complete() {
    // llhttp skips the whitespace before a value but hands over the whitespace after it.
    std::string& value = request.headers.back().value;
    std::string_view trimmed = trim_ows(value);
    if (trimmed.size() != value.size()) {
        const size_t start = static_cast<size_t>(trimmed.data() - value.data());
        value.resize(start + trimmed.size());
        value.erase(0, start);
    }
    return HPE_OK;
}

int RequestParser::Impl::on_headers_complete() {
    request.method = llhttp_method_name(static_cast<llhttp_method_t>(parser_.method));
    request.http_major = parser_.http_major;
    request.http_minor = parser_.http_minor;
    if (request.http_major != 1) {
        return fail(505, "HTTP version not supported");
    }
    if (int err = store_target(); err != HPE_OK) {
        return err;
    }
    // pushrelay speaks nothing but HTTP/1.x: "Upgrade" is ignored (RFC 9110 §7.8 allows it) and
    // CONNECT is an ordinary request that the router refuses, so no bytes ever leave llhttp as
    // "another protocol".
    parser_.upgrade = 0;
    phase_ = Phase::Body;
    return HPE_PAUSED;
}

int RequestParser::Impl::store_target() {
    std::optional<TargetParts> parts = split_target(request.target);
    if (!parts) {
        return fail(400, "request-target is not a path");
    }
    if (!percent_decode(parts->path, request.path)) {
        return fail(400, "bad percent-encoding in the path");
    }
    request.query.assign(parts->query);
    return HPE_OK;
}

int RequestParser::Impl::on_body(const char* at, size_t len) {
    if (body_limit_ != 0 && request.body.size() + len > body_limit_) {
        return fail(413, "request body larger than the limit");
    }
    request.body.append(at, len);
    // In a chunked body, content_length counts what is left of the current chunk.
    if ((parser_.flags & F_CHUNKED) != 0 && parser_.content_length == 0) {
        chunk_crlf_seen_ = 0;
        if (!check_chunk_crlf(at + len)) {
            return fail(400, "Expected CRLF after chunk");
        }
    }
    return HPE_OK;
}

bool RequestParser::Impl::check_chunk_crlf(const char* p) {
    static constexpr std::string_view kCrlf = "\r\n";
    for (; chunk_crlf_seen_ < kCrlf.size() && p < feed_end_; ++p, ++chunk_crlf_seen_) {
        if (*p != kCrlf[chunk_crlf_seen_]) {
            return false;
        }
    }
    return true;
}

int RequestParser::Impl::on_message_complete() {
    request.keep_alive = llhttp_should_keep_alive(&parser_) != 0;
    phase_ = Phase::Complete;
    return HPE_PAUSED;
}

RequestParser::RequestParser() : RequestParser(Limits{}) {}

RequestParser::RequestParser(Limits limits) : impl_(std::make_unique<Impl>(limits)) {}

RequestParser::~RequestParser() = default;
RequestParser::RequestParser(RequestParser&&) noexcept = default;
RequestParser& RequestParser::operator=(RequestParser&&) noexcept = default;

RequestParser::Step RequestParser::feed(const char* data, size_t len) {
    return impl_->feed(data, len);
}

void RequestParser::set_body_limit(uint64_t max_bytes) {
    impl_->set_body_limit(max_bytes);
}

const Request& RequestParser::request() const {
    return impl_->request;
}

Request& RequestParser::request() {
    return impl_->request;
}

int RequestParser::error_status() const {
    return impl_->error_status;
}

std::string_view RequestParser::error_reason() const {
    return impl_->error_reason;
}

void RequestParser::reset() {
    impl_->reset();
}

bool RequestParser::expects_continue() const {
    const Request& r = impl_->request;
    // RFC 9110 §10.1.1: a server must ignore 100-continue from an HTTP/1.0 client.
    const std::string* expect = r.header("Expect");
    return expect != nullptr && r.http_minor >= 1 && iequals(*expect, "100-continue");
}

}  // namespace pushrelay::protocol
