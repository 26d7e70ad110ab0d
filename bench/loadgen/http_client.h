// The load generator's HTTP/1.1 client: one non-blocking keep-alive
// connection on a libev loop, one request in flight at a time, and an
// incremental parser for the responses the servers send (Content-Length
// bodies; a chunked or unframed response is reported as an error). A stream
// (open_stream: EventSource, a WebSocket upgrade, a GRIP stream hold) is one request whose
// response head is parsed and whose bytes after it are handed on as they come (a chunked
// stream's framing included: its reader decodes it).
//
// Single-threaded: every Client of a run lives on the run's loop. Connects
// pass through a ConnectGate so that 10,000 sockets opened at once do not
// overflow the server's listen backlog.
#pragma once

#include <ev.h>
#include <netinet/in.h>

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>

namespace pushrelay::bench {

struct Response {
    int status = 0;
    std::string last_modified;
    std::string etag;
    std::string content_type;
    std::string websocket_accept;  // Sec-WebSocket-Accept
    std::string body;
    bool close = false;    // the server sent `Connection: close`
    bool chunked = false;  // `Transfer-Encoding: chunked` (streams only)
};

// Parses responses out of a byte buffer. parse() consumes one complete
// response from `input` starting at `pos` (advancing it) and returns Done,
// NeedMore when the response is incomplete, or Error with `error` set.
class ResponseParser {
  public:
    enum class Result { Done, NeedMore, Error };
    static Result parse(const std::string& input, size_t& pos, Response& out, std::string& error);
    // The status line and headers only; `content_length` is -1 when absent.
    static Result parse_head(const std::string& input, size_t& pos, Response& out,
                             long& content_length, std::string& error);
};

class Client;

// Limits how many connects are in progress at once; the rest wait in order.
class ConnectGate {
  public:
    explicit ConnectGate(int limit) : limit_(limit) {}
    ConnectGate(const ConnectGate&) = delete;
    ConnectGate& operator=(const ConnectGate&) = delete;

    void enter(Client* client);
    void leave();
    // Forgets a waiting client (it is being destroyed or disconnected).
    void forget(Client* client);

  private:
    int limit_;
    int active_ = 0;
    std::deque<Client*> waiting_;
};

class Client {
  public:
    // Receives the outcome of each request. Called on the loop; the handler
    // may send the next request or disconnect from inside the callback.
    struct Handler {
        virtual void on_response(Client& client, Response& response) = 0;
        virtual void on_failure(Client& client, std::string_view what) = 0;
        // A stream's response head, then its bytes as they arrive (open_stream).
        virtual void on_stream_head(Client& client, Response& head);
        virtual void on_stream_data(Client& client, std::string_view bytes);
        // The last byte of the request given to send() or open_stream() was written.
        virtual void on_request_sent(Client&) {}

      protected:
        ~Handler() = default;
    };

    Client(struct ev_loop* loop, const sockaddr_in& server, ConnectGate& gate, Handler& handler);
    ~Client();
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    // Sends `request` (a full HTTP/1.1 request), connecting first when not
    // connected. Precondition: no request is in flight.
    void send(std::string request);
    // Sends `request` whose response never ends: on_stream_head, then on_stream_data.
    void open_stream(std::string request);
    // Queues more bytes on the connection (a WebSocket's frames); precondition: connected
    // or connecting.
    void write(std::string_view bytes);
    // Closes the socket; a request in flight is abandoned silently.
    void disconnect();
    bool in_flight() const { return in_flight_; }

  private:
    friend class ConnectGate;
    static void on_io(struct ev_loop* loop, ev_io* w, int revents);

    void start_connect();
    void on_writable();
    void on_readable();
    void fail(std::string_view what);
    // Hands received bytes to the stream's handler; false when the connection went meanwhile.
    bool stream_input(const char* data, size_t size);
    void flush();

    struct ev_loop* loop_;
    sockaddr_in server_;
    ConnectGate& gate_;
    Handler& handler_;
    int fd_ = -1;
    bool connecting_ = false;
    bool waiting_gate_ = false;
    bool in_flight_ = false;
    bool streaming_ = false;    // open_stream() was called
    bool stream_head_ = false;  // its head has been parsed
    bool sent_notice_ = false;  // on_request_sent is due once the output is written
    ev_io read_watcher_{};
    ev_io write_watcher_{};
    std::string output_;
    size_t output_pos_ = 0;
    std::string input_;
    size_t input_pos_ = 0;
};

// CLOCK_MONOTONIC in nanoseconds: the clock of every send timestamp.
uint64_t monotonic_ns();

}  // namespace pushrelay::bench
