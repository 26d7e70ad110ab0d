// The shared segment: one anonymous shared mapping holding a Boost.Interprocess heap and the
// store's root (shm/layout.h).
//
// The master creates it before forking; workers inherit the mapping at the same address through
// fork(). The mapping has no name at all (MAP_SHARED | MAP_ANONYMOUS), so nothing can be left
// behind in /dev/shm, whatever happens to any process. Only shm/ looks inside it.
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

    Segment(Segment&& other) noexcept;
    Segment& operator=(Segment&& other) noexcept;
    Segment(const Segment&) = delete;
    Segment& operator=(const Segment&) = delete;
    // Unmaps this process's view; other processes keep theirs.
    ~Segment();

    // The store's root, for shm/store.cc. Valid while this Segment lives.
    Root* root() const noexcept { return root_; }
    std::size_t size() const noexcept { return size_; }

  private:
    Segment(void* address, std::size_t size, Root* root) noexcept
        : address_(address), size_(size), root_(root) {}
    void unmap() noexcept;

    void* address_ = nullptr;
    std::size_t size_ = 0;
    Root* root_ = nullptr;
};

}  // namespace pushrelay::shm
