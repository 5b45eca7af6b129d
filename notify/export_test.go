package notify

import "context"

// DeliverOnce runs one round of Run: claim a batch, send it, record the
// outcomes. It returns how many messages it claimed.
func (o *Outbox) DeliverOnce(ctx context.Context, s Sender) (int, error) { return o.deliver(ctx, s) }

// Validate is Message.validate.
func (m Message) Validate() error { return m.validate() }
