package tokencache

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// metadataCache answers MSAL's authority metadata requests (OpenID
// configuration, instance discovery) from memory after the first one.
// Every new MSAL client resolves its authority again; without this, a new
// client per partition would cost a network round trip each.
type metadataCache struct {
	next http.RoundTripper
	ttl  time.Duration
	mu   sync.Mutex
	m    map[string]cachedResponse
}

type cachedResponse struct {
	header http.Header
	body   []byte
	at     time.Time
}

// maxMetadataEntries bounds the cache: one entry per authority.
const maxMetadataEntries = 1024

func newMetadataCache(next http.RoundTripper) *metadataCache {
	if next == nil {
		next = http.DefaultTransport
	}
	return &metadataCache{next: next, ttl: time.Hour, m: map[string]cachedResponse{}}
}

func isMetadata(r *http.Request) bool {
	return r.Method == http.MethodGet &&
		(strings.HasSuffix(r.URL.Path, "/.well-known/openid-configuration") || strings.HasSuffix(r.URL.Path, "/discovery/instance"))
}

func (c *metadataCache) RoundTrip(r *http.Request) (*http.Response, error) {
	if !isMetadata(r) {
		return c.next.RoundTrip(r)
	}
	key := r.URL.String()
	c.mu.Lock()
	cr, ok := c.m[key]
	c.mu.Unlock()
	if ok && time.Since(cr.at) < c.ttl {
		return &http.Response{
			StatusCode: http.StatusOK, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: cr.header.Clone(), Body: io.NopCloser(bytes.NewReader(cr.body)),
			ContentLength: int64(len(cr.body)), Request: r,
		}, nil
	}
	resp, err := c.next.RoundTrip(r)
	if err != nil || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if len(c.m) >= maxMetadataEntries {
		clear(c.m)
	}
	c.m[key] = cachedResponse{header: resp.Header.Clone(), body: body, at: time.Now()}
	c.mu.Unlock()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}
