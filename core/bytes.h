// core/bytes.h — a flat byte encoding for state that never leaves the server (packed GRIP items
// and channel sequencing state kept in the shared segment): fixed-size values in native byte
// order, and strings as a u32 length and the bytes.
//
// The reader fails every get past the end instead of reading it, so a caller checks each get and
// a truncated or foreign record is refused whole.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

namespace pushrelay::core {

template <typename T>
void put_bytes(std::string& out, T value) {
    static_assert(std::is_trivially_copyable_v<T>);
    out.append(reinterpret_cast<const char*>(&value), sizeof value);
}

inline void put_string(std::string& out, std::string_view s) {
    put_bytes<std::uint32_t>(out, static_cast<std::uint32_t>(s.size()));
    out.append(s);
}

// Reads what put_bytes and put_string wrote, front to back.
class ByteReader {
  public:
    explicit ByteReader(std::string_view bytes) : rest_(bytes) {}

    template <typename T>
    bool get(T& value) {
        static_assert(std::is_trivially_copyable_v<T>);
        if (rest_.size() < sizeof value)
            return false;
        std::memcpy(&value, rest_.data(), sizeof value);
        rest_.remove_prefix(sizeof value);
        return true;
    }
    bool get_string(std::string& s) {
        std::uint32_t n = 0;
        if (!get(n) || rest_.size() < n)
            return false;
        s.assign(rest_.substr(0, n));
        rest_.remove_prefix(n);
        return true;
    }
    bool done() const { return rest_.empty(); }

  private:
    std::string_view rest_;
};

}  // namespace pushrelay::core
