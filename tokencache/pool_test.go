package tokencache

import (
	"fmt"
	"testing"
)

func testEntry(pk string) (*entry, error) {
	return &entry{pk: pk, part: &partition{}}, nil
}

func use(t *testing.T, p *pool, pk string) *entry {
	t.Helper()
	e, err := p.acquire(pk, 0, testEntry)
	if err != nil {
		t.Fatal(err)
	}
	p.release(e)
	return e
}

// The pool stays within its budget, and an entry in use, whether through
// the MSAL path (acquire) or only through its answers, is never evicted
// while a stream of one-time partitions passes through.
func TestPoolClockSparesHotEntries(t *testing.T) {
	p := newPool(10 * entryBase)
	use(t, p, "hot-msal")
	hot := use(t, p, "hot-answers")
	p.publish(hot, &answers{})
	for i := range 200 {
		use(t, p, fmt.Sprint("cold-", i))
		if n, b := p.size(); b > p.maxBytes || n > 10 {
			t.Fatalf("after %d inserts: %d entries, %d bytes; budget %d", i, n, b, p.maxBytes)
		}
		use(t, p, "hot-msal")
		if p.answers("hot-answers") == nil {
			t.Fatalf("after %d inserts the entry whose answers are in use was evicted", i)
		}
	}
	if n, _ := p.size(); n != 10 {
		t.Fatalf("%d entries, want the budget's 10", n)
	}
}

func TestPoolDrop(t *testing.T) {
	p := newPool(1 << 20)
	e := use(t, p, "a")
	p.publish(e, &answers{})
	use(t, p, "b")
	p.drop("a")
	if p.answers("a") != nil {
		t.Fatal("a dropped partition's answers are still served")
	}
	if again := use(t, p, "a"); again == e {
		t.Fatal("a dropped entry came back")
	}
	// publish for an entry no longer pooled changes nothing.
	p.publish(e, &answers{})
	if p.answers("a") != nil {
		t.Fatal("answers of a dropped entry were published")
	}
}

// An entry built with an older credential generation is replaced on
// acquire, however hot; one at least as new is kept.
func TestPoolReplacesOlderCredential(t *testing.T) {
	p := newPool(1 << 20)
	old := use(t, p, "a")
	gen1 := func(pk string) (*entry, error) { return &entry{pk: pk, gen: 1, part: &partition{}}, nil }
	e, err := p.acquire("a", 1, gen1)
	if err != nil {
		t.Fatal(err)
	}
	p.release(e)
	if e == old || e.gen != 1 {
		t.Fatal("an entry of the old credential was served after the change")
	}
	// An entry of the old generation built concurrently does not displace it.
	if got := p.insert(&entry{pk: "a", part: &partition{}, idx: -1}); got != e {
		t.Fatal("an entry of the old credential displaced the new one")
	}
	if again, _ := p.acquire("a", 1, gen1); again != e {
		t.Fatal("a current entry was rebuilt")
	} else {
		p.release(again)
	}
	if n, _ := p.size(); n != 1 {
		t.Fatalf("%d entries, want 1", n)
	}
}

// With a negative budget every call gets a new client and nothing is kept.
func TestPoolDisabled(t *testing.T) {
	p := newPool(-1)
	a, b := use(t, p, "a"), use(t, p, "a")
	if a == b {
		t.Fatal("a disabled pool reused an entry")
	}
	p.publish(a, &answers{})
	if p.answers("a") != nil {
		t.Fatal("a disabled pool served answers")
	}
}
