package storetest

import (
	"math"
	"time"

	"github.com/tenantgate/tenantgate/store"
)

func (c *check) wantRange(ix string, min, max float64, limit int, want string) {
	c.Helper()
	ms, err := c.st.IndexRange(c.ctx(), ix, min, max, limit)
	if err != nil {
		c.Fatalf("IndexRange(%v, %v, %d): %v", min, max, limit, err)
	}
	if got := joinMembers(ms); got != want {
		c.Fatalf("IndexRange(%v, %v, %d) = [%s], want [%s]", min, max, limit, got, want)
	}
}

func testIndexOrder(c *check) {
	ix := c.key("sessions")
	inf := math.Inf(1)
	c.noErr("IndexAdd", c.st.IndexAdd(c.ctx(), ix, long,
		store.Member{Name: "c", Score: 3},
		store.Member{Name: "a", Score: 1},
		store.Member{Name: "e", Score: -1.5},
	))
	c.noErr("IndexAdd", c.st.IndexAdd(c.ctx(), ix, long,
		store.Member{Name: "d", Score: 4},
		store.Member{Name: "b2", Score: 2},
		store.Member{Name: "b1", Score: 2},
		store.Member{Name: "t", Score: 1.7e9}, // a Unix time, as sessions are scored
	))
	c.wantRange(ix, -inf, inf, 0, "e a b1 b2 c d t")
	c.wantRange(ix, 2, 3, 0, "b1 b2 c") // bounds are inclusive; equal scores by name
	c.wantRange(ix, -inf, inf, 2, "e a")
	c.wantRange(ix, 2, inf, 1, "b1")
	c.wantRange(ix, 3, 2, 0, "")

	ms, err := c.st.IndexRange(c.ctx(), ix, 1.7e9, 1.7e9, 0)
	if err != nil || len(ms) != 1 || ms[0] != (store.Member{Name: "t", Score: 1.7e9}) {
		c.Fatalf("IndexRange of one member = %v, %v; want t scored 1.7e9", ms, err)
	}

	c.noErr("IndexAdd re-scoring a member", c.st.IndexAdd(c.ctx(), ix, long, store.Member{Name: "a", Score: 10}))
	c.wantRange(ix, -inf, inf, 0, "e b1 b2 c d a t")

	c.noErr("IndexRemove", c.st.IndexRemove(c.ctx(), ix, "c", "not-a-member"))
	c.wantRange(ix, -inf, inf, 0, "e b1 b2 d a t")

	n, err := c.st.IndexTrim(c.ctx(), ix, 2)
	c.noErr("IndexTrim", err)
	if n != 3 {
		c.Fatalf("IndexTrim(2) removed %d members, want 3 (e, b1, b2)", n)
	}
	c.wantRange(ix, -inf, inf, 0, "d a t")
	n, err = c.st.IndexTrim(c.ctx(), ix, 2)
	if err != nil || n != 0 {
		c.Fatalf("IndexTrim again = %d, %v; want 0, nil", n, err)
	}
	n, err = c.st.IndexTrim(c.ctx(), ix, inf)
	if err != nil || n != 3 {
		c.Fatalf("IndexTrim(+Inf) = %d, %v; want 3, nil", n, err)
	}
	c.wantRange(ix, -inf, inf, 0, "")
}

func testIndexTTL(c *check) {
	short, inf := c.opts.ShortTTL, math.Inf(1)
	gone, kept, extended := c.key("gone"), c.key("kept"), c.key("extended")
	m := store.Member{Name: "m", Score: 1}
	start := time.Now()
	c.noErr("IndexAdd", c.st.IndexAdd(c.ctx(), gone, short, m))
	c.noErr("IndexAdd", c.st.IndexAdd(c.ctx(), extended, short, m))
	c.noErr("IndexAdd", c.st.IndexAdd(c.ctx(), extended, long, store.Member{Name: "n", Score: 2}))
	c.noErr("IndexAdd", c.st.IndexAdd(c.ctx(), kept, long, m))
	// IndexAdd makes an index live at least ttl: a shorter ttl never shortens it.
	c.noErr("IndexAdd", c.st.IndexAdd(c.ctx(), kept, short, store.Member{Name: "n", Score: 2}))
	if c.soon(start) {
		c.wantRange(gone, -inf, inf, 0, "m")
	}

	c.eventually("an index added with a short TTL is still there", func() bool {
		ms, err := c.st.IndexRange(c.ctx(), gone, -inf, inf, 0)
		return err == nil && len(ms) == 0
	})
	if time.Since(start) < short*3/4 {
		c.Fatalf("an index with TTL %v expired after %v", short, time.Since(start))
	}
	c.wantRange(extended, -inf, inf, 0, "m n")
	c.wantRange(kept, -inf, inf, 0, "m n")
}
