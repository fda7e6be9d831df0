package storetest

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"time"
)

// inbox records what a subscription's handle received.
type inbox struct {
	mu   sync.Mutex
	msgs []string
}

func (in *inbox) handle(msg []byte) {
	in.mu.Lock()
	in.msgs = append(in.msgs, string(msg))
	in.mu.Unlock()
}

func (in *inbox) got() []string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return slices.Clone(in.msgs)
}

func (c *check) publish(channel, msg string) {
	c.Helper()
	c.noErr("Publish", c.st.Publish(c.ctx(), channel, []byte(msg)))
}

// waitFor waits until in has received exactly want.
func (c *check) waitFor(who string, in *inbox, want []string) {
	c.Helper()
	c.eventually(who+" did not receive "+strconv.Quote(want[len(want)-1]), func() bool {
		return len(in.got()) >= len(want)
	})
	if got := in.got(); !slices.Equal(got, want) {
		c.Fatalf("%s received %q, want %q in that order", who, got, want)
	}
}

func testPubSub(c *check) {
	ch, other := c.key("events"), c.key("other")
	c.publish(ch, "before anyone listened") // nothing is kept for later subscribers

	var one, two, elsewhere, cancelled inbox
	sub1, err := c.st.Subscribe(c.ctx(), ch, one.handle)
	c.noErr("Subscribe", err)
	sub2, err := c.st.Subscribe(c.ctx(), ch, two.handle)
	c.noErr("Subscribe", err)
	defer sub2.Close()
	subOther, err := c.st.Subscribe(c.ctx(), other, elsewhere.handle)
	c.noErr("Subscribe", err)
	defer subOther.Close()
	ctx, cancel := context.WithCancel(c.ctx())
	subCancelled, err := c.st.Subscribe(ctx, ch, cancelled.handle)
	c.noErr("Subscribe", err)
	defer subCancelled.Close()

	var want []string
	for i := range 10 {
		msg := "m" + strconv.Itoa(i)
		c.publish(ch, msg)
		want = append(want, msg)
	}
	c.waitFor("the first subscriber", &one, want)
	c.waitFor("the second subscriber", &two, want)
	c.waitFor("the subscriber about to be cancelled", &cancelled, want)

	c.noErr("Close", sub1.Close())
	cancel()
	// Close promises no call after it returns; cancelling ctx only that
	// delivery stops, so give it a moment.
	time.Sleep(50 * time.Millisecond)
	c.publish(ch, "after close")
	want = append(want, "after close")
	c.waitFor("the remaining subscriber", &two, want)
	time.Sleep(50 * time.Millisecond) // time for a wrong delivery to arrive
	if got := one.got(); len(got) != 10 {
		c.Fatalf("closed subscription received %q after Close", got[10:])
	}
	if got := cancelled.got(); len(got) != 10 {
		c.Fatalf("subscription whose context ended received %q", got[10:])
	}
	if got := elsewhere.got(); len(got) != 0 {
		c.Fatalf("subscriber of another channel received %q", got)
	}
	c.noErr("second Close", sub1.Close())
}
