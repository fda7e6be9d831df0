package redisstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/rueidis"

	"github.com/tenantgate/tenantgate/store"
)

// Publish sends msg to the channel's current subscribers.
func (s *Store) Publish(ctx context.Context, channel string, msg []byte) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	c := s.subscriberClient(0)
	err := c.Do(ctx, c.B().Publish().Channel(channel).Message(string(msg)).Build()).Error()
	if err != nil && c != s.c {
		// The chosen Cluster node failed: any other delivers too, at the
		// price of ordering while it is down.
		err = s.c.Do(ctx, s.c.B().Publish().Channel(channel).Message(string(msg)).Build()).Error()
	}
	if err != nil {
		return s.unavailable("publish", channel, err)
	}
	return nil
}

// subscribeQueue bounds the messages waiting for a slow handler; beyond it
// messages are dropped, which the contract allows (subscribers tolerate gaps).
const subscribeQueue = 1024

// Subscribe delivers the channel's messages to handle from one goroutine.
// It returns once the subscription is active.
func (s *Store) Subscribe(ctx context.Context, channel string, handle func(msg []byte)) (store.Subscription, error) {
	ctx, cancel := context.WithCancel(ctx)
	sub := &subscription{cancel: cancel, done: make(chan struct{})}
	queue := make(chan []byte, subscribeQueue)
	up, err := s.subscribe(ctx, channel, func(msg string) {
		select {
		case queue <- []byte(msg):
		default:
			s.o.Logger.Warn("redisstore: subscriber too slow; message dropped", slog.String("channel", channel))
		}
	}, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	go func() {
		defer close(sub.done)
		for {
			select {
			case <-ctx.Done():
				<-up // the connection loop has stopped: nothing more is queued
				return
			case m := <-queue:
				handle(m)
			}
		}
	}()
	return sub, nil
}

type subscription struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func (s *subscription) Close() error {
	s.cancel()
	<-s.done
	return nil
}

// subscribe keeps one connection subscribed to channel until ctx ends,
// reconnecting with backoff. onMsg is called from rueidis's reader, in
// order; onState(true) when a subscription is confirmed and onState(false)
// when it is lost, before any reconnect. It returns when the first
// subscription is confirmed, or its error; stopped is closed when the loop
// has ended and will call nothing more.
func (s *Store) subscribe(ctx context.Context, channel string, onMsg func(string), onState func(bool)) (stopped <-chan struct{}, err error) {
	first := make(chan error, 1)
	done := make(chan struct{})
	var once sync.Once
	report := func(err error) { once.Do(func() { first <- err }) }
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(done)
		for attempt := 0; ; attempt++ {
			err := s.subscribeOnce(ctx, channel, attempt, onMsg, onState, func() { report(nil) })
			report(err)
			if ctx.Err() != nil {
				return
			}
			s.o.Logger.Warn("redisstore: subscription lost; resubscribing", slog.String("channel", channel), slog.Any("err", err))
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff(attempt)):
			}
		}
	}()
	select {
	case err := <-first:
		if err != nil {
			return done, err
		}
		return done, nil
	case <-time.After(s.o.OpTimeout + s.o.DialTimeout):
		return done, s.unavailable("subscribe", channel, errors.New("no confirmation in time"))
	}
}

func backoff(attempt int) time.Duration {
	return min(50*time.Millisecond<<min(attempt, 6), 2*time.Second)
}

// subscribeOnce holds one subscribed connection until it fails or ctx ends.
func (s *Store) subscribeOnce(ctx context.Context, channel string, attempt int, onMsg func(string), onState func(bool), confirmed func()) error {
	dc, release := s.subscriberClient(attempt).Dedicate()
	defer release()
	var mu sync.Mutex
	active := false
	wait := dc.SetPubSubHooks(rueidis.PubSubHooks{
		OnMessage: func(m rueidis.PubSubMessage) { onMsg(m.Message) },
		OnSubscription: func(e rueidis.PubSubSubscription) {
			if e.Kind != "subscribe" || e.Channel != channel {
				return
			}
			mu.Lock()
			active = true
			mu.Unlock()
			if onState != nil {
				onState(true)
			}
			confirmed()
		},
	})
	defer func() {
		mu.Lock()
		wasActive := active
		mu.Unlock()
		if wasActive && onState != nil {
			onState(false)
		}
	}()
	sctx, cancel := s.ctx(ctx)
	err := dc.Do(sctx, dc.B().Subscribe().Channel(channel).Build()).Error()
	cancel()
	if err != nil {
		return s.unavailable("subscribe", channel, err)
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case err, ok := <-wait:
		if !ok || err == nil {
			err = errors.New("connection closed")
		}
		return s.unavailable("subscribe", channel, err)
	}
}

// subscriberClient picks where to subscribe, and (attempt 0) where to
// publish. A Cluster delivers PUBLISH to every node, so any node will do for
// a subscriber, and a failed one is skipped by the next attempt; publishing
// always through the same node keeps one publisher's messages in order,
// which a keyless command sent to a random node would not. A dedicated connection on a cluster client would need a key to
// find its node, and SUBSCRIBE has none.
func (s *Store) subscriberClient(attempt int) rueidis.Client {
	if s.c.Mode() != rueidis.ClientModeCluster {
		return s.c
	}
	nodes := s.c.Nodes()
	addrs := make([]string, 0, len(nodes))
	for a := range nodes {
		addrs = append(addrs, a)
	}
	if len(addrs) == 0 {
		return s.c
	}
	slices.Sort(addrs)
	return nodes[addrs[attempt%len(addrs)]]
}

// startInvalidation runs the pubsub mode's subscriber: every message
// "key|version" raises key's seen version in the L1, evicting older copies
// ("key|0", a delete, makes it forget key); a lost connection empties the
// L1 and keeps it off until the subscription is back.
func (s *Store) startInvalidation(ctx context.Context) error {
	_, err := s.subscribe(ctx, s.inv, func(msg string) {
		i := strings.LastIndexByte(msg, '|')
		if i < 0 {
			return
		}
		v, err := strconv.ParseUint(msg[i+1:], 16, 64)
		if err != nil {
			return
		}
		s.invalidations.Add(1)
		if v == 0 { // a delete: no version to keep out
			s.l1.forget(msg[:i])
			return
		}
		s.l1.invalidate(msg[:i], v)
	}, func(up bool) {
		if up {
			// Whatever was published while we were not listening is lost.
			s.l1.flush()
			s.l1.live.Store(true)
			return
		}
		s.l1.live.Store(false)
		s.l1.flush()
		s.flushes.Add(1)
	})
	if err != nil {
		return fmt.Errorf("redisstore: pubsub invalidation: %w", err)
	}
	return nil
}
