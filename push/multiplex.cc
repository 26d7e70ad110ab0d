#include "push/multiplex.h"

namespace pushrelay::push {

// One channel's part: the Multiplex does the talking.
class Multiplex::Member final : public Subscription {
  public:
    Member(std::shared_ptr<Multiplex> parent, std::size_t position)
        : parent_(std::move(parent)), position_(position) {}
    ~Member() override { parent_->member_gone(position_); }

    bool one_shot() const override { return parent_->transport_->one_shot(); }
    // Each member counts, as each counts as a subscriber of its channel.
    core::SubscriberKind kind() const override { return parent_->transport_->kind(); }
    void deliver(const Payload& payload, DeliveryHeads&) override {
        parent_->deliver(position_, payload);
    }
    void finish(Ending why) override { parent_->finish(why); }

  private:
    std::shared_ptr<Multiplex> parent_;
    std::size_t position_;
};

std::shared_ptr<Multiplex> Multiplex::create(Subscriptions& subscriptions,
                                             std::unique_ptr<Subscription> transport,
                                             std::size_t channels,
                                             const std::optional<protocol::IdList>& resumed) {
    return std::shared_ptr<Multiplex>(
        new Multiplex(subscriptions, std::move(transport), channels, resumed));
}

Multiplex::Multiplex(Subscriptions& subscriptions, std::unique_ptr<Subscription> transport,
                     std::size_t channels, const std::optional<protocol::IdList>& resumed)
    : subscriptions_(subscriptions),
      transport_(std::move(transport)),
      members_(channels, nullptr),
      ids_(channels, resumed) {}

Multiplex::~Multiplex() = default;

std::unique_ptr<Subscription> Multiplex::member(std::size_t position) {
    auto m = std::make_unique<Member>(shared_from_this(), position);
    members_[position] = m.get();
    if (!transport_->stand_in_)
        transport_->stand_in_ = m.get();
    return m;
}

bool Multiplex::catch_up(std::vector<std::optional<broker::Message>> first) {
    // Entries are nulled as members go, but catch_up returns as soon as one has gone.
    return subscriptions_.catch_up(members_, std::move(first));
}

void Multiplex::stop() {
    for (Subscription* m : members_) {
        if (m) {
            subscriptions_.stop(*m);  // the others follow it
            return;
        }
    }
}

// Each delivery gets its own payload and heads: the id differs per subscriber, so neither the
// long-poll head nor a stream frame can be shared with other subscribers of the channel.
void Multiplex::deliver(std::size_t position, const Payload& payload) {
    Payload labelled = payload;
    labelled.tags = ids_.next(position, payload.id);
    DeliveryHeads heads(labelled);
    transport_->deliver(labelled, heads);
}

void Multiplex::finish(Ending why) {
    if (finished_)
        return;
    finished_ = true;
    transport_->finish(why);
}

void Multiplex::member_gone(std::size_t position) {
    members_[position] = nullptr;
    if (ending_)
        return;
    ending_ = true;
    // The transport's client can no longer leave through a member: it is answered or gone.
    transport_->stand_in_ = nullptr;
    for (Subscription* m : members_) {
        if (m)
            subscriptions_.end(*m, Ending::ClientGone);
    }
}

}  // namespace pushrelay::push
