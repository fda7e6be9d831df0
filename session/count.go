package session

import (
	"context"
	"fmt"
	"math"
)

// Count returns how many sessions a tenant's index holds: live ones, and
// idle-expired ones that no List has dropped yet (their records are gone
// from the store by their TTL). It trims members past their absolute
// expiry first. It is two commands and reads no record (the second
// returns the members' names, about 70 bytes each), so it suits metrics
// scraped every few seconds.
func (m *Manager) Count(ctx context.Context, tenantID string) (int, error) {
	ix := m.tenantIndex(tenantID)
	now := score(m.now())
	if _, err := m.st.IndexTrim(ctx, ix, now); err != nil {
		return 0, fmt.Errorf("session: counting sessions: %w", err)
	}
	ms, err := m.st.IndexRange(ctx, ix, now, math.Inf(1), 0)
	if err != nil {
		return 0, fmt.Errorf("session: counting sessions: %w", err)
	}
	return len(ms), nil
}
