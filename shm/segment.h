// The shared segment: one shared mapping of a memfd holding a Boost.Interprocess heap and the
// store's root (shm/layout.h).
//
// The master creates it before forking; workers inherit the mapping through fork(). The memory is
// a memfd (memfd_create), so it has no name in any file system and nothing can be left behind in
// /dev/shm, whatever happens to any process; its descriptor is what a binary upgrade (USR2) hands
// to the new master, which maps it with adopt(), at whatever address. The mapping starts with a
// small header of fixed shape (where the root is), then the heap. Only shm/ looks inside it.
#pragma once

#include <cstddef>
#include <string>
#include <variant>

namespace pushrelay::shm {

struct Root;

class Segment {
  public:
    // Maps `bytes` of shared memory and builds an empty store in it. The error names the failing
    // call and the errno text, or says the size is too small.
    static std::variant<Segment, std::string> create(std::size_t bytes);

    // Maps the segment another process created, from its descriptor `fd` (the Segment owns it
    // from here, also on error). Checks only the header: Store::open() checks the layout version.
    static std::variant<Segment, std::string> adopt(int fd);

    Segment(Segment&& other) noexcept;
    Segment& operator=(Segment&& other) noexcept;
    Segment(const Segment&) = delete;
    Segment& operator=(const Segment&) = delete;
    // Unmaps this process's view and closes its descriptor; other processes keep theirs.
    ~Segment();

    // The store's root, for shm/store.cc. Valid while this Segment lives.
    Root* root() const noexcept { return root_; }
    std::size_t size() const noexcept { return size_; }
    // The memfd, close-on-exec: whoever hands it over clears that in the exec'ing child.
    int fd() const noexcept { return fd_; }

  private:
    Segment(int fd, void* address, std::size_t size) noexcept
        : fd_(fd), address_(address), size_(size) {}
    void release() noexcept;

    int fd_ = -1;
    void* address_ = nullptr;
    std::size_t size_ = 0;
    Root* root_ = nullptr;
};

}  // namespace pushrelay::shm
