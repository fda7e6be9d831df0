package ops

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/tenantgate/tenantgate/session"
	"github.com/tenantgate/tenantgate/signin"
	"github.com/tenantgate/tenantgate/store/redisstore"
	"github.com/tenantgate/tenantgate/tokencache"
)

// Metrics is tenantgate's Prometheus registry. Counters of other packages
// are read from their Stats at scrape time; only events no package counts
// (sign-ins by result, IdP and proxy latency) are counted here.
type Metrics struct {
	reg           *prometheus.Registry
	signIns       *prometheus.CounterVec
	signOuts      *prometheus.CounterVec
	ended         *prometheus.CounterVec
	refreshes     *prometheus.CounterVec
	idpDuration   *prometheus.HistogramVec
	proxyDuration *prometheus.HistogramVec
	storeDuration *prometheus.HistogramVec
}

// NewMetrics returns a registry with the Go and process collectors and
// tenantgate's own metrics.
func NewMetrics() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.signIns = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tenantgate_sign_ins_total",
		Help: "Sign-ins that reached the callback, by tenant key and result (ok, refused, unavailable)."}, []string{"tenant", "result"})
	m.signOuts = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tenantgate_sign_outs_total",
		Help: "Sign-outs through /.auth/logout, by tenant key and result."}, []string{"tenant", "result"})
	m.ended = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tenantgate_sessions_ended_total",
		Help: "Natural logouts: sessions ended because the refresh token was refused or the tenant is no longer served."}, []string{"tenant", "reason"})
	m.refreshes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tenantgate_token_refreshes_total",
		Help: "Refresh-token grants sent to the identity provider, by result (ok, invalid_grant, transient, other)."}, []string{"result"})
	m.idpDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "tenantgate_idp_request_duration_seconds",
		Help:    "Requests to the identity provider by endpoint (token, discovery, keys, instance_discovery, other) and status class.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}}, []string{"endpoint", "code"})
	m.proxyDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "tenantgate_http_request_duration_seconds",
		Help:    "Requests served by the gateway (sign-in routes, proxied and forward-auth requests), by status class.",
		Buckets: prometheus.DefBuckets}, []string{"code"})
	m.storeDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "tenantgate_store_operation_duration_seconds",
		Help:    "Store operations (including L1 hits), by operation and outcome (ok, not_found, conflict, error).",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}}, []string{"op", "outcome"})
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.signIns, m.signOuts, m.ended, m.refreshes, m.idpDuration, m.proxyDuration, m.storeDuration)
	return m
}

// Gatherer is what /metrics serves.
func (m *Metrics) Gatherer() prometheus.Gatherer { return m.reg }

// OnEvent counts sign-in events: signin.Options.OnEvent.
func (m *Metrics) OnEvent(e signin.Event) {
	t := e.TenantKey
	if t == "" {
		t = "unknown"
	}
	switch e.Kind {
	case signin.EventSignIn:
		m.signIns.WithLabelValues(t, e.Result).Inc()
	case signin.EventSignOut:
		m.signOuts.WithLabelValues(t, e.Result).Inc()
	case signin.EventSessionEnded:
		m.ended.WithLabelValues(t, e.Result).Inc()
	}
}

func (m *Metrics) counter(name, help string, f func() uint64) {
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(f()) }))
}

func (m *Metrics) gauge(name, help string, f func() float64) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
}

// TokenCache exports the token cache's counters.
func (m *Metrics) TokenCache(c *tokencache.Cache) {
	s := c.Stats
	p := "tenantgate_tokencache_"
	m.counter(p+"answer_hits_total", "Silent calls answered from a remembered result: one version check, no MSAL.", func() uint64 { return s().AnswerHits })
	m.counter(p+"state_hits_total", "MSAL calls on a partition already in memory at the stored version: no parsing.", func() uint64 { return s().StateHits })
	m.counter(p+"loads_total", "Partitions read and parsed.", func() uint64 { return s().Loads })
	m.counter(p+"misses_total", "Partitions found absent.", func() uint64 { return s().Misses })
	m.counter(p+"writes_total", "Partitions written.", func() uint64 { return s().Writes })
	m.counter(p+"skipped_writes_total", "Exports that changed nothing, so were not written.", func() uint64 { return s().SkippedWrites })
	m.counter(p+"conflicts_total", "Compare-and-set conflicts with another writer.", func() uint64 { return s().Conflicts })
	m.counter(p+"merges_total", "Merges after a conflict.", func() uint64 { return s().Merges })
	m.counter(p+"refused_foreign_total", "Writes refused: the MSAL cache held another account.", func() uint64 { return s().RefusedForeign })
	m.counter(p+"refused_open_total", "Stored values that failed to open or parse, treated as absent.", func() uint64 { return s().RefusedOpen })
	m.counter(p+"dropped_after_sign_out_total", "Writes dropped because the user signed out meanwhile.", func() uint64 { return s().DroppedAfterSignOut })
	m.counter(p+"served_local_total", "Calls served from memory while the store was unavailable.", func() uint64 { return s().ServedLocal })
	m.counter(p+"write_behind_queued_total", "Fresh token states kept in memory because the store was unavailable.", func() uint64 { return s().WriteBehindQueued })
	m.counter(p+"write_behind_landed_total", "Of those, written later.", func() uint64 { return s().WriteBehindLanded })
	m.counter(p+"write_behind_replaced_total", "Of those, replaced by a newer state of the same partition before landing.", func() uint64 { return s().WriteBehindReplaced })
	m.counter(p+"write_behind_signed_out_total", "Of those, dropped: the user signed out (or SignOut cancelled it).", func() uint64 { return s().WriteBehindSignedOut })
	m.counter(p+"write_behind_expired_total", "Of those, dropped: older than the tombstone TTL.", func() uint64 { return s().WriteBehindExpired })
	m.counter(p+"write_behind_dropped_total", "Of those, lost otherwise (queue full, write refused, still waiting at shutdown).", func() uint64 { return s().WriteBehindDropped })
	m.counter(p+"write_behind_retries_total", "Flush rounds that found the store still unavailable.", func() uint64 { return s().WriteBehindRetries })
	m.gauge(p+"write_behind_pending", "Token states waiting for the store now.", func() float64 { return float64(s().WriteBehindPending) })
	m.counter(p+"obo_hits_total", "On-behalf-of results served from tenantgate's own entries.", func() uint64 { return s().OBOHits })
	m.counter(p+"refresh_locks_total", "Refresh locks taken in the store.", func() uint64 { return s().RefreshLocks })
	m.counter(p+"refresh_waits_total", "Refreshes that waited for another call's or replica's.", func() uint64 { return s().RefreshWaits })
	m.counter(p+"refreshed_elsewhere_total", "Refreshes not sent: another replica refreshed the partition meanwhile.", func() uint64 { return s().RefreshedElsewhere })
	m.counter(p+"refresh_lock_failures_total", "Refreshes sent without the lock: the store could not lock.", func() uint64 { return s().RefreshLockFailures })
	m.counter(p+"refresh_lock_lost_total", "Refresh locks that lapsed while held.", func() uint64 { return s().RefreshLockLost })
}

// Sessions exports the session manager's counters and the live sessions
// of each tenant (session.Manager.Count, at scrape time).
func (m *Metrics) Sessions(sm *session.Manager, tenants func() []Tenant) {
	s := sm.Stats
	p := "tenantgate_session_"
	m.counter(p+"created_total", "Sessions created.", func() uint64 { return s().Created })
	m.counter(p+"loaded_total", "Requests that found a live session.", func() uint64 { return s().Loaded })
	m.counter(p+"touched_total", "Last-seen writes.", func() uint64 { return s().Touched })
	m.counter(p+"touch_failed_total", "Last-seen writes that failed (the request was served).", func() uint64 { return s().TouchFailed })
	m.counter(p+"rejected_total", "Stored records refused as corrupt, foreign or oversized.", func() uint64 { return s().Rejected })
	m.counter(p+"bad_cookies_total", "Cookie values that are not a session ID.", func() uint64 { return s().BadCookies })
	m.counter(p+"expired_total", "Records found past their idle or absolute expiry.", func() uint64 { return s().Expired })
	m.counter(p+"revoked_total", "Sessions deleted by sign-out, replacement or revocation.", func() uint64 { return s().Revoked })
	m.counter(p+"merged_total", "Value writes re-applied after a concurrent writer.", func() uint64 { return s().Merged })
	m.reg.MustRegister(&liveCollector{sm: sm, tenants: tenants})
}

// Store exports redisstore's L1 counters and mode.
func (m *Metrics) Store(st *redisstore.Store) {
	s := st.Stats
	p := "tenantgate_store_"
	m.counter(p+"l1_hits_total", "Reads served from the L1 without a round trip.", func() uint64 { return s().L1Hits })
	m.counter(p+"l1_misses_total", "Reads that asked Redis.", func() uint64 { return s().L1Misses })
	m.gauge(p+"l1_hit_ratio", "L1 hits over reads since start (rate the two counters for a window).", func() float64 {
		st := s()
		if st.L1Hits+st.L1Misses == 0 {
			return 0
		}
		return float64(st.L1Hits) / float64(st.L1Hits+st.L1Misses)
	})
	m.counter(p+"invalidations_total", "L1 invalidations received.", func() uint64 { return s().Invalidations })
	m.counter(p+"l1_flushes_total", "Whole-L1 flushes after a lost subscriber or connection.", func() uint64 { return s().Flushes })
	m.counter(p+"corrupt_total", "Values not in the store's format, treated as absent.", func() uint64 { return s().Corrupt })
	m.gauge(p+"l1_entries", "Entries in the L1 now.", func() float64 { return float64(s().L1Entries) })
	m.gauge(p+"l1_bytes", "Approximate bytes in the L1 now.", func() float64 { return float64(s().L1Bytes) })
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: p + "l1_mode", Help: "The L1 coherence mode chosen at start-up (1 for the mode in use).",
		ConstLabels: prometheus.Labels{"mode": string(st.Mode())}}, func() float64 { return 1 }))
}

// liveCollector reads each tenant's session count when scraped.
type liveCollector struct {
	sm      *session.Manager
	tenants func() []Tenant
}

var liveDesc = prometheus.NewDesc("tenantgate_sessions_live", "Sessions in each tenant's index (live, or idle-expired and not yet listed), read at scrape time, by tenant key (organizations for a tenant on the multi-tenant app's allow-list only) and tenant ID.", []string{"tenant", "tenant_id"}, nil)

func (c *liveCollector) Describe(ch chan<- *prometheus.Desc) { ch <- liveDesc }

func (c *liveCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, t := range c.tenants() {
		n, err := c.sm.Count(ctx, t.TenantID)
		if err != nil {
			ch <- prometheus.NewInvalidMetric(liveDesc, err)
			continue
		}
		ch <- prometheus.MustNewConstMetric(liveDesc, prometheus.GaugeValue, float64(n), t.Key, t.TenantID)
	}
}
