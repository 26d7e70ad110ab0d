// relay/relay.h — the Redis relay process of one node (shared/scale-out.md "Processes and
// connections", "Notification path and resync"), forked and supervised by the master in Redis
// mode, beside the workers.
//
// It owns the node's only subscription connection and feeds the shared segment from it: every
// frame of a channel this node's subscribers use becomes a store call (insert_remote,
// delete_channel, trim_remote) whose Published/Deleted events reach the workers' mailboxes as a
// local publish's do. It keeps each channel's cache gapless: a message frame whose previous id is
// not the newest the cache holds starts a fetch of what is missing first; every (re)connect of the
// subscription resyncs every channel it holds. Its command connection runs those fetches and the
// leases that make channel info count this node's waiters (scale-out.md, item 6).
//
// Workers ask for channels (redis/relay_ask.h) on a datagram socket; the relay subscribes,
// fetches, marks the channel live in the cache and the Live event answers the asking workers. A
// channel nobody waits on is unsubscribed after kIdleUnsubscribe. Two relays may read the one
// socket for a while (a reload, a binary upgrade): both feed the cache, which takes each id once.
#pragma once

#include "core/worker_context.h"

namespace pushrelay::relay {

// The relay process's entry point: runs until SIGTERM/SIGQUIT/SIGINT, returns the exit status.
int run(const core::RelayContext& context);

// For the master, once it reaped a relay (core::RelayGoneNotice): whichever relay reads the
// notice takes on every channel the cache serves waiters of or marks live, as at its start. A
// relay's channels would otherwise stay live with nobody feeding them when another relay, not a
// successor, carries on: the old master's after a binary upgrade, or during a reload.
void announce_gone(int write_fd);

}  // namespace pushrelay::relay
