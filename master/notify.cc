#include "master/notify.h"

#include "core/clock.h"
#include "core/unique_fd.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <ctime>

namespace pushrelay::master {

std::string notify_systemd(const std::string& state) {
    const char* path = std::getenv("NOTIFY_SOCKET");
    if (!path || !*path)
        return "";
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    size_t len = std::strlen(path);
    if (len >= sizeof addr.sun_path)
        return "NOTIFY_SOCKET is too long";
    std::memcpy(addr.sun_path, path, len);
    // A leading '@' names a socket in the abstract namespace.
    if (path[0] == '@')
        addr.sun_path[0] = '\0';
    core::UniqueFd fd(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!fd)
        return std::string("socket(AF_UNIX) failed: ") + std::strerror(errno);
    socklen_t addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len);
    ssize_t n = sendto(fd.get(), state.data(), state.size(), MSG_NOSIGNAL,
                       reinterpret_cast<sockaddr*>(&addr), addr_len);
    return n < 0 ? std::string("sendto(NOTIFY_SOCKET) failed: ") + std::strerror(errno) : "";
}

std::string reloading_state() {
    return "RELOADING=1\nMONOTONIC_USEC=" + std::to_string(core::monotonic_us());
}

}  // namespace pushrelay::master
