#include "conf/error.h"

namespace pushrelay::conf {

std::string Error::describe() const {
    if (line == 0) {
        return file + ": " + message;
    }
    return file + ":" + std::to_string(line) + ": " + message;
}

}  // namespace pushrelay::conf
