// pushrelay: a standalone HTTP push relay server. See README.md and pushrelay(8).
// The master knows nothing of the worker or the relay: this is where they are wired.
#include "master/master.h"
#include "relay/relay.h"
#include "worker/worker.h"

int main(int argc, char** argv) {
    return pushrelay::master::main(
        argc, argv,
        {pushrelay::worker::run, pushrelay::relay::run, pushrelay::relay::announce_gone});
}
