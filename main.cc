// pushrelay: a standalone HTTP push relay server. See README.md and pushrelay(8).
#include "master/master.h"

int main(int argc, char** argv) {
    return pushrelay::master::main(argc, argv);
}
