package memstore_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tenantgate/tenantgate/store"
	"github.com/tenantgate/tenantgate/store/memstore"
)

func Example() {
	s := memstore.New(memstore.Options{})
	defer s.Close()
	ctx := context.Background()

	// Version 0: create only if absent.
	v, _ := s.CompareAndSet(ctx, "tg1:counter", 0, []byte("1"), time.Hour)
	// A writer holding a stale version loses instead of overwriting.
	_, err := s.CompareAndSet(ctx, "tg1:counter", v+1, []byte("9"), time.Hour)
	fmt.Println(errors.Is(err, store.ErrConflict))

	_, _ = s.CompareAndSet(ctx, "tg1:login:state", 0, []byte("pkce-verifier"), 10*time.Minute)
	first, _ := s.Take(ctx, "tg1:login:state")
	_, err = s.Take(ctx, "tg1:login:state")
	fmt.Println(string(first), errors.Is(err, store.ErrNotFound))
	// Output:
	// true
	// pkce-verifier true
}
