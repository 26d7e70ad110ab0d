#include "core/output_queue.h"

#include <cerrno>

namespace pushrelay::core {

void OutputQueue::push(SharedBytes bytes, size_t offset) {
    bytes_ += bytes->size() - offset;
    chunks_.push_back({std::move(bytes), offset});
}

int OutputQueue::gather(iovec* iov, int max) const {
    int n = 0;
    for (size_t i = head_; i < chunks_.size() && n < max; i++, n++) {
        const Chunk& c = chunks_[i];
        iov[n].iov_base = const_cast<char*>(c.bytes->data() + c.offset);
        iov[n].iov_len = c.bytes->size() - c.offset;
    }
    return n;
}

void OutputQueue::consume(size_t n) {
    bytes_ -= n;
    while (n > 0) {
        Chunk& c = chunks_[head_];
        size_t left = c.bytes->size() - c.offset;
        if (n < left) {
            c.offset += n;
            return;
        }
        n -= left;
        c.bytes.reset();
        head_++;
    }
    if (head_ == chunks_.size()) {
        // Everything is written: give the memory back rather than keep it for a connection that
        // may now wait for minutes.
        std::vector<Chunk>().swap(chunks_);
        head_ = 0;
    }
}

OutputQueue::Write OutputQueue::write_to(int fd) {
    constexpr int kMaxIovecs = 64;
    while (!empty()) {
        iovec iov[kMaxIovecs];
        int n = gather(iov, kMaxIovecs);
        ssize_t written = ::writev(fd, iov, n);
        if (written < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return Write::WouldBlock;
            return Write::Failed;
        }
        consume(static_cast<size_t>(written));
    }
    return Write::Drained;
}

}  // namespace pushrelay::core
