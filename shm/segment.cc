#include "shm/segment.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <new>
#include <utility>

#include "shm/layout.h"

namespace pushrelay::shm {
namespace {

std::string failure(const char* call, int error) {
    return std::string(call) + " failed: " + std::strerror(error);
}

// Places the heap and the root at the start of the mapping. The ManagedBuffer object is only the
// builder: the segment manager lives in the mapping, and destroying the builder leaves it intact.
std::variant<Root*, std::string> build_store(void* address, std::size_t bytes) {
    SegmentManager* manager = nullptr;
    try {
        ManagedBuffer buffer(bip::create_only, address, bytes);
        manager = buffer.get_segment_manager();
    } catch (const std::exception& e) {
        return std::string("cannot place the heap in the segment: ") + e.what();
    }
    void* memory = manager->allocate(sizeof(Root), std::nothrow);
    if (memory == nullptr) {
        return std::string("segment of ") + std::to_string(bytes) + " bytes is too small";
    }
    Root* root = new (memory) Root();
    root->manager = manager;
    if (const int error = root->lock.init(); error != 0) {
        return failure("pthread_mutex_init()", error);
    }
    if (const int error = root->sequencing.lock.init(); error != 0) {
        return failure("pthread_mutex_init(sequencing)", error);
    }
    return root;
}

}  // namespace

std::variant<Segment, std::string> Segment::create(std::size_t bytes) {
    void* address = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (address == MAP_FAILED) {
        return failure(("mmap(" + std::to_string(bytes) + " bytes)").c_str(), errno);
    }
    Segment segment(address, bytes, nullptr);
    auto built = build_store(address, bytes);
    if (auto* error = std::get_if<std::string>(&built)) {
        return std::move(*error);
    }
    segment.root_ = std::get<Root*>(built);
    return segment;
}

Segment::Segment(Segment&& other) noexcept
    : address_(std::exchange(other.address_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      root_(std::exchange(other.root_, nullptr)) {}

Segment& Segment::operator=(Segment&& other) noexcept {
    if (this != &other) {
        unmap();
        address_ = std::exchange(other.address_, nullptr);
        size_ = std::exchange(other.size_, 0);
        root_ = std::exchange(other.root_, nullptr);
    }
    return *this;
}

Segment::~Segment() {
    unmap();
}

void Segment::unmap() noexcept {
    if (address_ != nullptr) {
        munmap(address_, size_);
        address_ = nullptr;
    }
}

}  // namespace pushrelay::shm
