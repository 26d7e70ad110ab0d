#include "shm/segment.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <new>
#include <utility>

#include "shm/layout.h"

namespace pushrelay::shm {
namespace {

// The start of the mapping. Its shape never changes, so that any build can find the root of a
// segment made by any other (and Store::open() then reads the root's layout version).
struct Header {
    std::uint64_t magic;
    std::uint64_t root_offset;  // from the start of the mapping
};
constexpr std::uint64_t kMagic = 0x7075736872656c79;  // "pushrely"
static_assert(sizeof(Header) <= kHeapOffset);

std::string failure(const char* call, int error) {
    return std::string(call) + " failed: " + std::strerror(error);
}

// Places the heap and the root after the header. The ManagedBuffer object is only the builder:
// the segment manager lives in the mapping, and destroying the builder leaves it intact.
std::variant<Root*, std::string> build_store(void* address, std::size_t bytes) {
    if (bytes <= kHeapOffset) {
        return std::string("segment of ") + std::to_string(bytes) + " bytes is too small";
    }
    SegmentManager* manager = nullptr;
    try {
        ManagedBuffer buffer(bip::create_only, static_cast<char*>(address) + kHeapOffset,
                             bytes - kHeapOffset);
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
    auto* header = static_cast<Header*>(address);
    header->root_offset =
        static_cast<std::uint64_t>(reinterpret_cast<char*>(root) - static_cast<char*>(address));
    header->magic = kMagic;
    return root;
}

void* map_shared(int fd, std::size_t bytes) {
    return mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
}

}  // namespace

std::variant<Segment, std::string> Segment::create(std::size_t bytes) {
    const int fd = memfd_create("pushrelay-segment", MFD_CLOEXEC);
    if (fd < 0) {
        return failure("memfd_create()", errno);
    }
    Segment segment(fd, nullptr, 0);
    if (ftruncate(fd, static_cast<off_t>(bytes)) < 0) {
        return failure(("ftruncate(memfd, " + std::to_string(bytes) + " bytes)").c_str(), errno);
    }
    void* address = map_shared(fd, bytes);
    if (address == MAP_FAILED) {
        return failure(("mmap(" + std::to_string(bytes) + " bytes)").c_str(), errno);
    }
    segment.address_ = address;
    segment.size_ = bytes;
    auto built = build_store(address, bytes);
    if (auto* error = std::get_if<std::string>(&built)) {
        return std::move(*error);
    }
    segment.root_ = std::get<Root*>(built);
    return segment;
}

std::variant<Segment, std::string> Segment::adopt(int fd) {
    Segment segment(fd, nullptr, 0);
    struct stat st;
    if (fstat(fd, &st) < 0) {
        return failure(("fstat(" + std::to_string(fd) + ")").c_str(), errno);
    }
    const auto bytes = static_cast<std::size_t>(st.st_size);
    if (bytes <= kHeapOffset) {
        return "descriptor " + std::to_string(fd) + " holds " + std::to_string(bytes) +
               " bytes: not a segment";
    }
    void* address = map_shared(fd, bytes);
    if (address == MAP_FAILED) {
        return failure(("mmap(" + std::to_string(bytes) + " bytes)").c_str(), errno);
    }
    segment.address_ = address;
    segment.size_ = bytes;
    const auto* header = static_cast<const Header*>(address);
    if (header->magic != kMagic || header->root_offset < kHeapOffset ||
        header->root_offset + sizeof(Root::layout_version) > bytes) {
        return "descriptor " + std::to_string(fd) + " is not a pushrelay segment (bad header)";
    }
    segment.root_ = reinterpret_cast<Root*>(static_cast<char*>(address) + header->root_offset);
    return segment;
}

Segment::Segment(Segment&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      address_(std::exchange(other.address_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      root_(std::exchange(other.root_, nullptr)) {}

Segment& Segment::operator=(Segment&& other) noexcept {
    if (this != &other) {
        release();
        fd_ = std::exchange(other.fd_, -1);
        address_ = std::exchange(other.address_, nullptr);
        size_ = std::exchange(other.size_, 0);
        root_ = std::exchange(other.root_, nullptr);
    }
    return *this;
}

Segment::~Segment() {
    release();
}

void Segment::release() noexcept {
    if (address_ != nullptr) {
        munmap(address_, size_);
        address_ = nullptr;
    }
    if (fd_ >= 0) {
        close(fd_);
        fd_ = -1;
    }
}

}  // namespace pushrelay::shm
