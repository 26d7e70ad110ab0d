#include "redis/cluster.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <charconv>
#include <utility>

#include "redis/keys.h"

namespace pushrelay::redis {
namespace {

// A slot that has no master that answers: CLUSTER SLOTS again this often (scale-out.md).
constexpr double kSlotsRetry = 1.0;
// A subscription told its channel moved: the map is read again after this, so that a cluster
// whose nodes disagree for a moment costs a few round trips a second, not a busy loop.
constexpr double kMovedRetry = 0.1;
// The first wait before a not-ready command is sent again; it doubles.
constexpr double kFirstRetry = 0.1;

struct Redirect {
    unsigned slot = 0;
    sockaddr_storage address{};
};

// "MOVED 3999 127.0.0.1:6381" or "ASK 3999 127.0.0.1:6381"; the host is numeric (Redis names
// its nodes by IP), and the port follows the last ':' (an IPv6 host has colons of its own).
std::optional<Redirect> parse_redirect(std::string_view error) {
    const std::size_t first = error.find(' ');
    const std::size_t second = error.find(' ', first + 1);
    if (first == std::string_view::npos || second == std::string_view::npos)
        return std::nullopt;
    const std::string_view slot_text = error.substr(first + 1, second - first - 1);
    const std::string_view endpoint = error.substr(second + 1);
    const std::size_t colon = endpoint.rfind(':');
    Redirect redirect;
    int port = 0;
    if (colon == std::string_view::npos ||
        std::from_chars(slot_text.data(), slot_text.data() + slot_text.size(), redirect.slot).ec !=
            std::errc() ||
        std::from_chars(endpoint.data() + colon + 1, endpoint.data() + endpoint.size(), port).ec !=
            std::errc() ||
        redirect.slot >= kClusterSlots)
        return std::nullopt;
    std::optional<sockaddr_storage> address = numeric_address(endpoint.substr(0, colon), port);
    if (!address)
        return std::nullopt;
    redirect.address = *address;
    return redirect;
}

Settings with_address(Settings settings, const sockaddr_storage& address, bool keep_db) {
    settings.address = address;
    if (!keep_db)
        settings.db = 0;  // a Cluster has db 0 only
    return settings;
}

void add(Connection::Counters& sum, const Connection::Counters& more) {
    sum.attempts += more.attempts;
    sum.connects += more.connects;
    sum.commands += more.commands;
    sum.errors += more.errors;
}

void add(Subscription::Counters& sum, const Subscription::Counters& more) {
    sum.attempts += more.attempts;
    sum.connects += more.connects;
}

Failure shard_failure(const std::string& shard, const Failure& failure) {
    return {failure.kind, "shard " + shard + ": " + failure.reason};
}

}  // namespace

std::string endpoint_name(const sockaddr_storage& address) {
    return numeric_host(address) + ":" + std::to_string(port_of(address));
}

std::optional<sockaddr_storage> numeric_address(std::string_view host, int port) {
    if (port <= 0 || port > 65535)
        return std::nullopt;
    const std::string text(host);
    sockaddr_storage address{};
    auto& in = reinterpret_cast<sockaddr_in&>(address);
    auto& in6 = reinterpret_cast<sockaddr_in6&>(address);
    if (inet_pton(AF_INET, text.c_str(), &in.sin_addr) == 1) {
        in.sin_family = AF_INET;
        in.sin_port = htons(static_cast<std::uint16_t>(port));
        return address;
    }
    if (inet_pton(AF_INET6, text.c_str(), &in6.sin6_addr) == 1) {
        in6.sin6_family = AF_INET6;
        in6.sin6_port = htons(static_cast<std::uint16_t>(port));
        return address;
    }
    return std::nullopt;
}

// ---- SlotMap ----

std::array<std::uint16_t, kClusterSlots> SlotMap::filled() {
    std::array<std::uint16_t, kClusterSlots> owners;
    owners.fill(kNone);
    return owners;
}

// Each range: [start, end, [host, port, id, ...] (the master), replicas...].
std::optional<SlotMap> SlotMap::parse(const Value& reply, const sockaddr_storage& asked) {
    if (reply.type != Value::Type::Array)
        return std::nullopt;
    SlotMap map;
    for (const Value& range : reply.elements) {
        if (range.type != Value::Type::Array || range.elements.size() < 3)
            return std::nullopt;
        const Value& start = range.elements[0];
        const Value& end = range.elements[1];
        const Value& master = range.elements[2];
        if (start.type != Value::Type::Integer || end.type != Value::Type::Integer ||
            start.integer < 0 || end.integer < start.integer || end.integer >= kClusterSlots ||
            master.type != Value::Type::Array || master.elements.size() < 2 ||
            master.elements[1].type != Value::Type::Integer)
            return std::nullopt;
        const std::string& host = master.elements[0].string;
        const auto port = static_cast<int>(master.elements[1].integer);
        const std::optional<sockaddr_storage> address =
            host.empty() ? numeric_address(numeric_host(asked), port) : numeric_address(host, port);
        if (!address)
            continue;
        const std::uint16_t index = map.index_of(*address);
        std::fill(map.owner_.begin() + start.integer, map.owner_.begin() + end.integer + 1, index);
    }
    return map;
}

const SlotMap::Master* SlotMap::master(unsigned slot) const {
    const std::uint16_t index = owner_[slot % kClusterSlots];
    return index == kNone ? nullptr : &masters_[index];
}

void SlotMap::assign(unsigned slot, const sockaddr_storage& address) {
    owner_[slot % kClusterSlots] = index_of(address);
}

bool SlotMap::covers_every_slot() const {
    return std::find(owner_.begin(), owner_.end(), kNone) == owner_.end();
}

std::uint16_t SlotMap::index_of(const sockaddr_storage& address) {
    std::string name = endpoint_name(address);
    for (std::size_t i = 0; i < masters_.size(); ++i) {
        if (masters_[i].name == name)
            return static_cast<std::uint16_t>(i);
    }
    masters_.push_back({address, std::move(name)});
    return static_cast<std::uint16_t>(masters_.size() - 1);
}

// ---- HealthReports ----

bool HealthReports::should_report_up(bool healthy) {
    if (!healthy || up_)
        return false;
    up_ = true;
    down_reports_.reset();
    return true;
}

bool HealthReports::should_report_down(const Failure& failure) {
    const bool was_up = std::exchange(up_, false);
    return down_reports_.should_report(failure, was_up);
}

// ---- Commands ----

// A caller's command, from evalsha()/command() until its callback.
struct Commands::Call {
    std::optional<std::size_t> script;  // evalsha(): the script; command(): none
    std::vector<std::string> argv;      // command()
    std::vector<std::string> keys;      // evalsha()
    std::vector<std::string> args;      // evalsha()
    std::optional<unsigned> slot;       // none: a command naming no key
    Callback callback;
    ev_tstamp started = 0;
    int redirects = 0;  // MOVED followed
    bool asked = false;
    double backoff = kFirstRetry;
    Commands* owner = nullptr;
    ev_timer timer;  // backing off before dispatching again
};

// One command connection, and what it tells Commands.
struct Commands::Node final : Observer {
    Node(Commands& owner, const sockaddr_storage& address, bool seed)
        : owner(owner),
          address(address),
          name(endpoint_name(address)),
          seed(seed),
          connection(owner.loop_, with_address(owner.settings_, address, seed), *this) {}
    void on_up() override { owner.node_up(*this); }
    void on_down(const Failure& failure) override { owner.node_down(*this, failure); }

    Commands& owner;
    const sockaddr_storage address;
    const std::string name;
    const bool seed;
    Connection connection;
};

Commands::Commands(struct ev_loop* loop, Settings seed_settings,
                   std::vector<sockaddr_storage> seeds, Observer& observer)
    : loop_(loop), settings_(std::move(seed_settings)), observer_(observer) {
    init_timer(refresh_timer_, on_refresh_timer, this);
    init_timer(prune_timer_, on_prune_timer, this);
    for (const sockaddr_storage& seed : seeds) {
        Node& node = node_at(seed, true);
        if (!first_seed_)
            first_seed_ = &node;
    }
}

Commands::~Commands() {
    ev_timer_stop(loop_, &refresh_timer_);
    ev_timer_stop(loop_, &prune_timer_);
    for (auto& [raw, call] : backing_off_) ev_timer_stop(loop_, &raw->timer);
}

void Commands::evalsha(std::size_t script, const std::vector<std::string>& keys,
                       const std::vector<std::string>& args, Callback callback) {
    auto call = std::make_shared<Call>();
    call->script = script;
    call->keys = keys;
    call->args = args;
    if (!keys.empty())
        call->slot = cluster_slot(keys[0]);
    call->callback = std::move(callback);
    submit(std::move(call));
}

void Commands::command(std::vector<std::string> argv, Callback callback) {
    auto call = std::make_shared<Call>();
    if (argv.size() > 1)
        call->slot = cluster_slot(argv[1]);
    call->argv = std::move(argv);
    call->callback = std::move(callback);
    submit(std::move(call));
}

void Commands::submit(std::shared_ptr<Call> call) {
    call->started = ev_now(loop_);
    call->owner = this;
    init_timer(call->timer, on_call_timer, call.get());
    dispatch(call);
}

// Before the mode is known, the first seed's Connection holds the command until it is up (or
// until command_timeout, Unavailable); a cluster node answering it with MOVED is followed then.
void Commands::dispatch(const std::shared_ptr<Call>& call) {
    switch (mode_) {
        case Mode::Unknown:
            send_to(*first_seed_, call, false);
            return;
        case Mode::Standalone:
            send_to(*standalone_, call, false);
            return;
        case Mode::Cluster:
            break;
    }
    const SlotMap::Master* master =
        call->slot ? slot_map_.master(*call->slot)
                   : (slot_map_.masters().empty() ? nullptr : &slot_map_.masters().front());
    if (!master) {
        refresh_slots();
        Reply reply;
        reply.outcome = Outcome::Unavailable;
        reply.error = "no master known for slot " + std::to_string(call->slot.value_or(0));
        retry_later(call, std::move(reply));
        return;
    }
    send_to(node_at(master->address), call, false);
}

// ASKING and the command are queued on one connection back to back, so Redis runs them in turn.
void Commands::send_to(Node& node, const std::shared_ptr<Call>& call, bool asking) {
    if (asking)
        node.connection.command({"ASKING"}, [](Reply&&) {});
    Callback done = [this, call](Reply&& reply) { replied(call, std::move(reply)); };
    if (call->script)
        node.connection.evalsha(*call->script, call->keys, call->args, std::move(done));
    else
        node.connection.command(call->argv, std::move(done));
}

void Commands::replied(const std::shared_ptr<Call>& call, Reply&& reply) {
    if (mode_ == Mode::Cluster) {
        if (reply.outcome == Outcome::ErrorReply && redirect(call, reply))
            return;
        if (reply.outcome == Outcome::NotReady) {
            if (error_code(reply.error) == "CLUSTERDOWN")
                refresh_slots();
            retry_later(call, std::move(reply));
            return;
        }
    }
    finish(*call, std::move(reply));
}

// MOVED: the slot has a new owner; the command goes there at once, and the map is read again.
// ASK: the slot is migrating and this key is already on the target; only this command goes.
bool Commands::redirect(const std::shared_ptr<Call>& call, const Reply& reply) {
    const std::string_view code = error_code(reply.error);
    const bool moved = code == "MOVED";
    if (!moved && code != "ASK")
        return false;
    const std::optional<Redirect> target = parse_redirect(reply.error);
    if (!target)
        return false;
    if (moved) {
        if (call->redirects >= kMaxRedirects)
            return false;
        ++call->redirects;
        slot_map_.assign(target->slot, target->address);
        refresh_slots();
    } else {
        if (call->asked)
            return false;
        call->asked = true;
    }
    send_to(node_at(target->address), call, !moved);
    return true;
}

// Sent again after the backoff if that still ends before command_timeout from the call; else
// the caller gets `reply`.
void Commands::retry_later(const std::shared_ptr<Call>& call, Reply&& reply) {
    if (ev_now(loop_) + call->backoff > call->started + settings_.command_timeout + kTimerSlack) {
        finish(*call, std::move(reply));
        return;
    }
    restart_timer(loop_, call->timer, call->backoff);
    call->backoff *= 2;
    backing_off_[call.get()] = call;
}

void Commands::finish(Call& call, Reply&& reply) {
    Callback callback = std::move(call.callback);
    callback(std::move(reply));
}

Commands::Node& Commands::node_at(const sockaddr_storage& address, bool seed) {
    std::unique_ptr<Node>& node = nodes_[endpoint_name(address)];
    if (!node)
        node = std::make_unique<Node>(*this, address, seed);
    return *node;
}

Commands::Node* Commands::any_up_node() {
    for (auto& [name, node] : nodes_) {
        if (node->connection.up())
            return node.get();
    }
    return nullptr;
}

bool Commands::is_master(const Node& node) const {
    const auto& masters = slot_map_.masters();
    return std::any_of(masters.begin(), masters.end(),
                       [&node](const SlotMap::Master& master) { return master.name == node.name; });
}

bool Commands::healthy() const {
    if (mode_ == Mode::Standalone)
        return standalone_->connection.up();
    if (mode_ != Mode::Cluster || !slot_map_read_ || !slot_map_.covers_every_slot())
        return false;
    for (const SlotMap::Master& master : slot_map_.masters()) {
        const auto it = nodes_.find(master.name);
        if (it == nodes_.end() || !it->second->connection.up())
            return false;
    }
    return true;
}

bool Commands::up() const {
    return healthy();
}

Connection::Counters Commands::counters() const {
    Connection::Counters sum = retired_;
    for (const auto& [name, node] : nodes_) add(sum, node->connection.counters());
    return sum;
}

std::string Commands::server_version() const {
    if (standalone_)
        return standalone_->connection.server_version();
    for (const auto& [name, node] : nodes_) {
        if (node->connection.up())
            return node->connection.server_version();
    }
    return {};
}

const sockaddr_storage& Commands::standalone_address() const {
    return standalone_ ? standalone_->address : first_seed_->address;
}

// The first connection up tells the mode. Standalone, its reports are the caller's as they are.
void Commands::node_up(Node& node) {
    if (mode_ == Mode::Unknown) {
        if (node.connection.cluster_enabled()) {
            mode_ = Mode::Cluster;
            refresh_slots();
            return;
        }
        mode_ = Mode::Standalone;
        standalone_ = &node;
        restart_timer(loop_, prune_timer_, 0);
        if (topology_listener_)
            topology_listener_();
        observer_.on_up();
        return;
    }
    if (mode_ == Mode::Standalone) {
        if (&node == standalone_)
            observer_.on_up();
        return;
    }
    if (is_master(node))
        report_health(nullptr);
}

void Commands::node_down(Node& node, const Failure& failure) {
    if (mode_ != Mode::Cluster) {
        if (&node == (mode_ == Mode::Standalone ? standalone_ : first_seed_))
            observer_.on_down(failure);
        return;
    }
    if (!is_master(node))
        return;
    const Failure shard = shard_failure(node.name, failure);
    report_health(&shard);
    refresh_slots(kSlotsRetry);
}

// Cluster: `cause` is the failure that made it unhealthy, if one did; without one (the map
// changed, a new master is not connected yet) the first master not up is named.
void Commands::report_health(const Failure* cause) {
    if (healthy()) {
        if (health_.should_report_up(true))
            observer_.on_up();
        return;
    }
    if (!cause && !health_.reported_up())
        return;  // already reported down, or never up: the failures themselves were reported
    Failure failure{Failure::Kind::Io, "the slot map has a slot with no master"};
    if (cause) {
        failure = *cause;
    } else {
        for (const SlotMap::Master& master : slot_map_.masters()) {
            const auto it = nodes_.find(master.name);
            if (it == nodes_.end() || !it->second->connection.up()) {
                failure.reason = "shard " + master.name + ": not connected yet";
                break;
            }
        }
    }
    if (health_.should_report_down(failure))
        observer_.on_down(failure);
}

void Commands::refresh_slots(double after) {
    if (mode_ != Mode::Cluster)
        return;
    if (after > 0) {
        if (!ev_is_active(&refresh_timer_))
            restart_timer(loop_, refresh_timer_, after);
        return;
    }
    if (refreshing_)
        return;
    Node* via = any_up_node();
    if (!via) {
        refresh_slots(kSlotsRetry);
        return;
    }
    refreshing_ = true;
    const sockaddr_storage asked = via->address;
    via->connection.command({"CLUSTER", "SLOTS"}, [this, asked](Reply&& reply) {
        slots_replied(asked, std::move(reply));
    });
}

void Commands::slots_replied(const sockaddr_storage& asked, Reply&& reply) {
    refreshing_ = false;
    std::optional<SlotMap> map;
    if (reply.outcome == Outcome::Ok)
        map = SlotMap::parse(reply.value, asked);
    if (map) {
        slot_map_ = std::move(*map);
        slot_map_read_ = true;
        for (const SlotMap::Master& master : slot_map_.masters()) node_at(master.address);
        restart_timer(loop_, prune_timer_, 0);
        if (topology_listener_)
            topology_listener_();
        report_health(nullptr);
    }
    if (!healthy())
        refresh_slots(kSlotsRetry);
}

// Connections no longer needed (a former master, the other seeds of a standalone Redis) go once
// no callback of theirs is still due; a busy one is looked at again a second later.
void Commands::prune() {
    bool busy_left = false;
    for (auto it = nodes_.begin(); it != nodes_.end();) {
        Node& node = *it->second;
        const bool needed =
            mode_ == Mode::Standalone ? &node == standalone_ : (node.seed || is_master(node));
        if (needed || node.connection.pending() > 0) {
            busy_left = busy_left || !needed;
            ++it;
            continue;
        }
        add(retired_, node.connection.counters());
        if (&node == first_seed_)
            first_seed_ = nullptr;
        it = nodes_.erase(it);
    }
    if (busy_left)
        restart_timer(loop_, prune_timer_, kSlotsRetry);
}

void Commands::on_refresh_timer(struct ev_loop*, ev_timer* w, int) {
    static_cast<Commands*>(w->data)->refresh_slots();
}

void Commands::on_prune_timer(struct ev_loop*, ev_timer* w, int) {
    static_cast<Commands*>(w->data)->prune();
}

void Commands::on_call_timer(struct ev_loop*, ev_timer* w, int) {
    auto* raw = static_cast<Call*>(w->data);
    Commands& self = *raw->owner;
    const auto it = self.backing_off_.find(raw);
    std::shared_ptr<Call> call = std::move(it->second);
    self.backing_off_.erase(it);
    self.dispatch(call);
}

// ---- ShardedSubscriptions ----

// One subscription connection, and what it tells ShardedSubscriptions.
struct ShardedSubscriptions::Shard final : SubscriptionObserver {
    Shard(ShardedSubscriptions& owner, const sockaddr_storage& address, bool sharded)
        : owner(owner),
          name(endpoint_name(address)),
          subscription(owner.loop_, with_address(owner.settings_, address, !sharded), sharded,
                       *this) {}
    void on_up() override { owner.shard_up(); }
    void on_down(const Failure& failure) override { owner.shard_down(*this, failure); }
    void on_subscribed(std::string_view channel) override { owner.subscribed(*this, channel); }
    void on_message(std::string_view channel, std::string_view payload) override {
        owner.message(*this, channel, payload);
    }
    void on_moved(std::string_view channel) override { owner.moved(*this, channel); }

    ShardedSubscriptions& owner;
    const std::string name;
    Subscription subscription;
};

ShardedSubscriptions::ShardedSubscriptions(struct ev_loop* loop, Settings settings,
                                           Commands& topology,
                                           ShardedSubscriptionsObserver& observer)
    : loop_(loop), settings_(std::move(settings)), topology_(topology), observer_(observer) {
    init_timer(prune_timer_, on_prune_timer, this);
    topology_.set_topology_listener([this] { topology_changed(); });
    if (topology_.mode() != Commands::Mode::Unknown)
        topology_changed();
}

ShardedSubscriptions::~ShardedSubscriptions() {
    topology_.set_topology_listener(nullptr);
    ev_timer_stop(loop_, &prune_timer_);
}

void ShardedSubscriptions::subscribe(std::string channel) {
    const auto [it, inserted] = wanted_.try_emplace(std::move(channel));
    if (inserted)
        route(it->first, it->second);
}

void ShardedSubscriptions::unsubscribe(const std::string& channel) {
    const auto it = wanted_.find(channel);
    if (it == wanted_.end())
        return;
    if (it->second.shard)
        it->second.shard->subscription.unsubscribe(channel);
    wanted_.erase(it);
}

// Every channel whose shard changed leaves the old one (on_lost if it was confirmed) and is
// subscribed on the new one; the observer hears of the losses once the map is consistent.
void ShardedSubscriptions::topology_changed() {
    if (topology_.cluster()) {
        for (const SlotMap::Master& master : topology_.slot_map().masters())
            shard_at(master.address, true);
    } else if (shards_.empty()) {
        shard_at(topology_.standalone_address(), false);
    }
    std::vector<std::string> lost;
    for (auto& [channel, wanted] : wanted_) {
        if (target(channel) == wanted.shard)
            continue;
        if (wanted.confirmed)
            lost.push_back(channel);
        leave_shard(channel, wanted);
        route(channel, wanted);
    }
    restart_timer(loop_, prune_timer_, 0);
    for (const std::string& channel : lost) observer_.on_lost(channel);
}

void ShardedSubscriptions::route(const std::string& channel, Wanted& wanted) {
    wanted.shard = target(channel);
    wanted.confirmed = false;
    if (wanted.shard)
        wanted.shard->subscription.subscribe(channel);
}

void ShardedSubscriptions::leave_shard(const std::string& channel, Wanted& wanted) {
    if (wanted.shard)
        wanted.shard->subscription.unsubscribe(channel);
    wanted.shard = nullptr;
    wanted.confirmed = false;
}

ShardedSubscriptions::Shard& ShardedSubscriptions::shard_at(const sockaddr_storage& address,
                                                            bool sharded) {
    std::unique_ptr<Shard>& shard = shards_[endpoint_name(address)];
    if (!shard)
        shard = std::make_unique<Shard>(*this, address, sharded);
    return *shard;
}

ShardedSubscriptions::Shard* ShardedSubscriptions::target(const std::string& channel) const {
    std::string name;
    if (topology_.cluster()) {
        const SlotMap::Master* master = topology_.slot_map().master(cluster_slot(channel));
        if (!master)
            return nullptr;
        name = master->name;
    } else if (topology_.mode() == Commands::Mode::Standalone) {
        name = endpoint_name(topology_.standalone_address());
    }
    const auto it = shards_.find(name);
    return it == shards_.end() ? nullptr : it->second.get();
}

bool ShardedSubscriptions::healthy() const {
    if (topology_.mode() == Commands::Mode::Unknown || shards_.empty())
        return false;
    if (!topology_.cluster())
        return shards_.begin()->second->subscription.up();
    const SlotMap& map = topology_.slot_map();
    if (!map.covers_every_slot())
        return false;
    for (const SlotMap::Master& master : map.masters()) {
        const auto it = shards_.find(master.name);
        if (it == shards_.end() || !it->second->subscription.up())
            return false;
    }
    return true;
}

bool ShardedSubscriptions::up() const {
    return healthy();
}

std::size_t ShardedSubscriptions::channels() const {
    std::size_t sum = 0;
    for (const auto& [name, shard] : shards_) sum += shard->subscription.channels();
    return sum;
}

Subscription::Counters ShardedSubscriptions::counters() const {
    Subscription::Counters sum = retired_;
    for (const auto& [name, shard] : shards_) add(sum, shard->subscription.counters());
    return sum;
}

void ShardedSubscriptions::shard_up() {
    if (health_.should_report_up(healthy()))
        observer_.on_up();
}

// The shard's Subscription subscribes its channels again by itself once back; each is confirmed
// again (on_subscribed), which is when the relay resyncs it.
void ShardedSubscriptions::shard_down(Shard& shard, const Failure& failure) {
    std::vector<std::string> lost;
    for (auto& [channel, wanted] : wanted_) {
        if (wanted.shard == &shard && wanted.confirmed) {
            wanted.confirmed = false;
            lost.push_back(channel);
        }
    }
    const Failure reported = topology_.cluster() ? shard_failure(shard.name, failure) : failure;
    if (health_.should_report_down(reported))
        observer_.on_down(reported);
    for (const std::string& channel : lost) observer_.on_lost(channel);
    topology_.refresh_slots(kSlotsRetry);
}

void ShardedSubscriptions::subscribed(Shard& shard, std::string_view channel) {
    const auto it = wanted_.find(std::string(channel));
    if (it == wanted_.end() || it->second.shard != &shard || it->second.confirmed)
        return;
    it->second.confirmed = true;
    observer_.on_subscribed(channel);
}

void ShardedSubscriptions::message(Shard& shard, std::string_view channel,
                                   std::string_view payload) {
    const auto it = wanted_.find(std::string(channel));
    if (it != wanted_.end() && it->second.shard == &shard && it->second.confirmed)
        observer_.on_message(channel, payload);
}

// The Subscription has already let the channel go; it is routed again once the map is read.
void ShardedSubscriptions::moved(Shard& shard, std::string_view channel) {
    const auto it = wanted_.find(std::string(channel));
    if (it == wanted_.end() || it->second.shard != &shard)
        return;
    const bool was_confirmed = it->second.confirmed;
    it->second.shard = nullptr;
    it->second.confirmed = false;
    topology_.refresh_slots(kMovedRetry);
    if (was_confirmed)
        observer_.on_lost(channel);
}

// A former master's Subscription goes once none of its channels is wanted there.
void ShardedSubscriptions::prune() {
    if (!topology_.cluster())
        return;
    const SlotMap& map = topology_.slot_map();
    for (auto it = shards_.begin(); it != shards_.end();) {
        const bool master =
            std::any_of(map.masters().begin(), map.masters().end(),
                        [&it](const SlotMap::Master& m) { return m.name == it->first; });
        if (master || it->second->subscription.wanted() > 0) {
            ++it;
            continue;
        }
        add(retired_, it->second->subscription.counters());
        it = shards_.erase(it);
    }
}

void ShardedSubscriptions::on_prune_timer(struct ev_loop*, ev_timer* w, int) {
    static_cast<ShardedSubscriptions*>(w->data)->prune();
}

}  // namespace pushrelay::redis
