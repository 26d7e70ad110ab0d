#include "core/unique_fd.h"

#include <unistd.h>

namespace pushrelay::core {

void UniqueFd::reset(int fd) noexcept {
    // close() is not retried on EINTR: on Linux the descriptor is released whatever it returns.
    if (fd_ >= 0)
        ::close(fd_);
    fd_ = fd;
}

}  // namespace pushrelay::core
