// pushrelay: a standalone HTTP push relay server. See README.md and pushrelay(8).
// The master knows nothing of the worker: this is where the two are wired.
#include "master/master.h"
#include "worker/worker.h"

int main(int argc, char** argv) {
    return pushrelay::master::main(argc, argv, pushrelay::worker::run);
}
