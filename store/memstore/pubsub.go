package memstore

import (
	"context"
	"errors"
	"sync"

	"github.com/tenantgate/tenantgate/store"
)

// Publish hands msg to every current subscriber's queue without waiting for
// any handler, so one slow subscriber never slows the publisher; a full queue
// drops the message for that subscriber. Each subscriber gets its own copy.
func (s *Store) Publish(ctx context.Context, channel string, msg []byte) error {
	if err := ctx.Err(); err != nil {
		return ctxErr(err)
	}
	s.psMu.Lock()
	defer s.psMu.Unlock()
	if s.subs == nil {
		return errClosed
	}
	// Sending under psMu never blocks, and it orders concurrent publishers
	// the same way for every subscriber.
	for sub := range s.subs[channel] {
		select {
		case sub.queue <- append([]byte(nil), msg...):
		default:
		}
	}
	return nil
}

// Subscribe delivers messages from a goroutine of the subscription's own,
// so handle runs without any store lock held and may call the store. handle
// must not call the subscription's Close (that waits for handle to return);
// to stop from inside handle, cancel ctx.
func (s *Store) Subscribe(ctx context.Context, channel string, handle func(msg []byte)) (store.Subscription, error) {
	if handle == nil {
		return nil, errors.New("memstore: Subscribe needs a handle function")
	}
	if err := ctx.Err(); err != nil {
		return nil, ctxErr(err)
	}
	sub := &subscription{
		s:       s,
		channel: channel,
		handle:  handle,
		queue:   make(chan []byte, s.queueSize),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	s.psMu.Lock()
	if s.subs == nil {
		s.psMu.Unlock()
		return nil, errClosed
	}
	set := s.subs[channel]
	if set == nil {
		set = make(map[*subscription]struct{})
		s.subs[channel] = set
	}
	set[sub] = struct{}{}
	s.psMu.Unlock()

	go sub.run(ctx)
	return sub, nil
}

type subscription struct {
	s        *Store
	channel  string
	handle   func([]byte)
	queue    chan []byte
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
}

func (sub *subscription) run(ctx context.Context) {
	defer close(sub.done)
	defer sub.unregister()
	for {
		select {
		case <-sub.stop:
			return
		case <-ctx.Done():
			return
		case msg := <-sub.queue:
			// select picks at random among ready cases: check again so a
			// closed subscription does not deliver what was still queued.
			select {
			case <-sub.stop:
				return
			case <-ctx.Done():
				return
			default:
			}
			sub.handle(msg)
		}
	}
}

func (sub *subscription) unregister() {
	sub.s.psMu.Lock()
	defer sub.s.psMu.Unlock()
	if set := sub.s.subs[sub.channel]; set != nil {
		delete(set, sub)
		if len(set) == 0 {
			delete(sub.s.subs, sub.channel)
		}
	}
}

// Close stops delivery and waits until a handle call in progress returns.
func (sub *subscription) Close() error {
	sub.stopOnce.Do(func() { close(sub.stop) })
	<-sub.done
	return nil
}
