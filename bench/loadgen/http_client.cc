#include "bench/loadgen/http_client.h"

#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

namespace pushrelay::bench {
namespace {

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

// Applies one header line to the response; false for a header this client cannot frame.
bool apply_header(std::string_view line, Response& out, long& content_length, std::string& error) {
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
        error = "malformed header line";
        return false;
    }
    std::string_view name = line.substr(0, colon);
    std::string_view value = trim(line.substr(colon + 1));
    if (iequals(name, "content-length")) {
        content_length = std::strtol(std::string(value).c_str(), nullptr, 10);
    } else if (iequals(name, "last-modified")) {
        out.last_modified = value;
    } else if (iequals(name, "etag")) {
        out.etag = value;
    } else if (iequals(name, "content-type")) {
        out.content_type = value;
    } else if (iequals(name, "sec-websocket-accept")) {
        out.websocket_accept = value;
    } else if (iequals(name, "connection")) {
        out.close = iequals(value, "close");
    } else if (iequals(name, "transfer-encoding")) {
        out.chunked = true;
    }
    return true;
}

}  // namespace

uint64_t monotonic_ns() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

ResponseParser::Result ResponseParser::parse_head(const std::string& input, size_t& pos,
                                                  Response& out, long& content_length,
                                                  std::string& error) {
    size_t end = input.find("\r\n\r\n", pos);
    if (end == std::string::npos)
        return Result::NeedMore;
    std::string_view head(input.data() + pos, end - pos);
    size_t line_end = head.find("\r\n");
    std::string_view status_line = head.substr(0, line_end);
    if (status_line.size() < 12 || status_line.substr(0, 7) != "HTTP/1.") {
        error = "malformed status line";
        return Result::Error;
    }
    out = Response{};
    out.status = std::atoi(std::string(status_line.substr(9, 3)).c_str());
    content_length = -1;
    while (line_end != std::string_view::npos) {
        size_t next = head.find("\r\n", line_end + 2);
        std::string_view line =
            head.substr(line_end + 2, next == std::string_view::npos ? std::string_view::npos
                                                                     : next - line_end - 2);
        if (!apply_header(line, out, content_length, error))
            return Result::Error;
        line_end = next;
    }
    pos = end + 4;
    return Result::Done;
}

ResponseParser::Result ResponseParser::parse(const std::string& input, size_t& pos, Response& out,
                                             std::string& error) {
    size_t body_start = pos;
    long content_length = -1;
    Result head = parse_head(input, body_start, out, content_length, error);
    if (head != Result::Done)
        return head;
    if (out.chunked) {
        error = "chunked responses are not supported outside streams";
        return Result::Error;
    }
    if (content_length < 0) {
        // 304 and 204 carry no body; anything else must be framed.
        if (out.status != 304 && out.status != 204) {
            error = "response without Content-Length";
            return Result::Error;
        }
        content_length = 0;
    }
    if (input.size() - body_start < static_cast<size_t>(content_length))
        return Result::NeedMore;
    out.body.assign(input, body_start, static_cast<size_t>(content_length));
    pos = body_start + static_cast<size_t>(content_length);
    return Result::Done;
}

void Client::Handler::on_stream_head(Client& client, Response&) {
    client.fail("a stream this handler cannot read");
}

void Client::Handler::on_stream_data(Client& client, std::string_view) {
    client.fail("a stream this handler cannot read");
}

void ConnectGate::enter(Client* client) {
    if (active_ < limit_) {
        ++active_;
        client->start_connect();
    } else {
        client->waiting_gate_ = true;
        waiting_.push_back(client);
    }
}

void ConnectGate::leave() {
    --active_;
    while (active_ < limit_ && !waiting_.empty()) {
        Client* next = waiting_.front();
        waiting_.pop_front();
        next->waiting_gate_ = false;
        ++active_;
        next->start_connect();
    }
}

void ConnectGate::forget(Client* client) {
    waiting_.erase(std::remove(waiting_.begin(), waiting_.end(), client), waiting_.end());
    client->waiting_gate_ = false;
}

Client::Client(struct ev_loop* loop, const sockaddr_in& server, ConnectGate& gate, Handler& handler)
    : loop_(loop), server_(server), gate_(gate), handler_(handler) {
    ev_init(&read_watcher_, on_io);
    ev_init(&write_watcher_, on_io);
    read_watcher_.data = this;
    write_watcher_.data = this;
}

Client::~Client() {
    disconnect();
}

void Client::send(std::string request) {
    output_ = std::move(request);
    output_pos_ = 0;
    in_flight_ = true;
    sent_notice_ = true;
    if (fd_ >= 0 && !connecting_) {
        on_writable();
    } else if (fd_ < 0 && !waiting_gate_) {
        gate_.enter(this);
    }
}

void Client::open_stream(std::string request) {
    streaming_ = true;
    stream_head_ = false;
    send(std::move(request));
}

void Client::write(std::string_view bytes) {
    if (output_pos_ == output_.size()) {
        output_.clear();
        output_pos_ = 0;
    }
    output_.append(bytes);
    if (fd_ >= 0 && !connecting_)
        flush();
}

void Client::start_connect() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) {
        gate_.leave();
        fail(std::string("socket: ") + std::strerror(errno));
        return;
    }
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    connecting_ = true;
    if (connect(fd_, reinterpret_cast<const sockaddr*>(&server_), sizeof server_) < 0 &&
        errno != EINPROGRESS) {
        connecting_ = false;
        gate_.leave();
        fail(std::string("connect: ") + std::strerror(errno));
        return;
    }
    ev_io_set(&read_watcher_, fd_, EV_READ);
    ev_io_set(&write_watcher_, fd_, EV_WRITE);
    ev_io_start(loop_, &read_watcher_);
    ev_io_start(loop_, &write_watcher_);
}

void Client::disconnect() {
    if (waiting_gate_)
        gate_.forget(this);
    if (fd_ < 0)
        return;
    if (connecting_)
        gate_.leave();
    ev_io_stop(loop_, &read_watcher_);
    ev_io_stop(loop_, &write_watcher_);
    ::close(fd_);
    fd_ = -1;
    connecting_ = false;
    in_flight_ = false;
    streaming_ = false;
    sent_notice_ = false;
    input_.clear();
    input_pos_ = 0;
}

void Client::fail(std::string_view what) {
    disconnect();
    handler_.on_failure(*this, what);
}

void Client::on_io(struct ev_loop*, ev_io* w, int revents) {
    auto* self = static_cast<Client*>(w->data);
    if (revents & EV_WRITE) {
        self->on_writable();
    } else if (revents & EV_READ) {
        self->on_readable();
    }
}

void Client::on_writable() {
    if (connecting_) {
        int error = 0;
        socklen_t len = sizeof error;
        getsockopt(fd_, SOL_SOCKET, SO_ERROR, &error, &len);
        connecting_ = false;
        gate_.leave();
        if (error != 0) {
            fail(std::string("connect: ") + std::strerror(error));
            return;
        }
    }
    flush();
}

void Client::flush() {
    while (output_pos_ < output_.size()) {
        ssize_t n =
            ::send(fd_, output_.data() + output_pos_, output_.size() - output_pos_, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN) {
                ev_io_start(loop_, &write_watcher_);
                return;
            }
            fail(std::string("send: ") + std::strerror(errno));
            return;
        }
        output_pos_ += static_cast<size_t>(n);
    }
    ev_io_stop(loop_, &write_watcher_);
    if (sent_notice_) {
        sent_notice_ = false;
        handler_.on_request_sent(*this);
    }
}

void Client::on_readable() {
    char buffer[16384];
    for (;;) {
        ssize_t n = recv(fd_, buffer, sizeof buffer, 0);
        if (n > 0) {
            if (streaming_) {
                if (!stream_input(buffer, static_cast<size_t>(n)))
                    return;
            } else {
                input_.append(buffer, static_cast<size_t>(n));
            }
            if (static_cast<size_t>(n) < sizeof buffer)
                break;
            continue;
        }
        if (n < 0 && errno == EAGAIN)
            break;
        if (n == 0 && !in_flight_) {  // an idle keep-alive connection the server ended
            disconnect();
            return;
        }
        fail(n == 0 ? "connection closed by the server" : std::strerror(errno));
        return;
    }
    if (streaming_)
        return;
    Response response;
    std::string error;
    switch (ResponseParser::parse(input_, input_pos_, response, error)) {
        case ResponseParser::Result::NeedMore:
            return;
        case ResponseParser::Result::Error:
            fail(error);
            return;
        case ResponseParser::Result::Done:
            break;
    }
    if (input_pos_ != input_.size()) {
        fail("unexpected bytes after a response");
        return;
    }
    input_.clear();
    input_pos_ = 0;
    in_flight_ = false;
    if (response.close)
        disconnect();
    handler_.on_response(*this, response);
}

bool Client::stream_input(const char* data, size_t size) {
    int fd = fd_;
    if (stream_head_) {
        handler_.on_stream_data(*this, std::string_view(data, size));
        return fd_ == fd;
    }
    input_.append(data, size);
    Response head;
    long content_length = -1;
    std::string error;
    switch (ResponseParser::parse_head(input_, input_pos_, head, content_length, error)) {
        case ResponseParser::Result::NeedMore:
            return true;
        case ResponseParser::Result::Error:
            fail(error);
            return false;
        case ResponseParser::Result::Done:
            break;
    }
    stream_head_ = true;
    std::string rest = input_.substr(input_pos_);
    input_.clear();
    input_pos_ = 0;
    handler_.on_stream_head(*this, head);
    if (fd_ != fd)
        return false;
    if (!rest.empty())
        handler_.on_stream_data(*this, rest);
    return fd_ == fd;
}

}  // namespace pushrelay::bench
