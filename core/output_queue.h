// core/output_queue.h — bytes waiting to be written to one socket, oldest first.
//
// Used by every connection of a worker process (http/ connections, ws/ sessions). The buffers are
// shared: one message's bytes are queued on thousands of connections without a copy. Holds no fd
// and writes nothing itself; the owner gathers iovecs, calls writev() and consumes what went out.
// Single-threaded.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace pushrelay::core {

// Immutable bytes shared by every queue that holds them (a response head, a message frame).
using SharedBytes = std::shared_ptr<const std::string>;

// A vector with a head index rather than a deque: an empty deque still allocates its first block,
// and ten thousand held subscribers would each carry one.
class OutputQueue {
  public:
    // Queues `bytes` from `offset` on (the first `offset` bytes were written already).
    void push(SharedBytes bytes, size_t offset = 0);
    bool empty() const { return head_ == chunks_.size(); }
    size_t bytes() const { return bytes_; }
    // Fills at most `max` iovecs from the oldest chunk on; returns how many.
    int gather(struct iovec* iov, int max) const;
    // Forgets `n` written bytes from the front. Precondition: n <= bytes().
    void consume(size_t n);

    enum class Write : uint8_t {
        Drained,     // everything queued is written
        WouldBlock,  // the socket is full: wait until it is writable
        Failed,      // EPIPE, ECONNRESET...: errno says which; the peer is gone
    };
    // Writes to `fd` (non-blocking) with writev() until the queue is empty or the socket stops
    // taking bytes, retrying on EINTR.
    Write write_to(int fd);

  private:
    struct Chunk {
        SharedBytes bytes;
        size_t offset;
    };
    std::vector<Chunk> chunks_;
    size_t head_ = 0;
    size_t bytes_ = 0;
};

}  // namespace pushrelay::core
