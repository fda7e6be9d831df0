package ops

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// RequestIDHeader carries a request's ID to the upstream and back.
const RequestIDHeader = "X-Request-Id"

// RequestID keeps a well-formed X-Request-Id from the client (1 to 128
// characters of letters, digits, '-', '_', '.', ':'), or makes one, and
// sets it on the request (so the proxy passes it upstream) and on the
// response; it then counts the request's duration by status class and,
// with a logger (nil: none), logs one access line with the ID. The line holds the method, the path without
// its query (which may carry a code or a state), the status and the time.
func (m *Metrics) RequestID(next http.Handler, logger *slog.Logger) http.Handler {
	// One observer per status class, resolved once: WithLabelValues
	// hashes its labels under a lock, on every request otherwise.
	var byClass [6]prometheus.Observer // 0: other, 1..5: 1xx..5xx
	if m != nil {
		for i := range byClass {
			byClass[i] = m.proxyDuration.WithLabelValues(statusClass(i * 100))
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var id string
		if v := r.Header[RequestIDHeader]; len(v) > 0 && validRequestID(v[0]) {
			id = v[0]
		} else {
			id = newRequestID()
		}
		// Set by its canonical name, which Header.Set would compute again.
		ids := []string{id}
		r.Header[RequestIDHeader] = ids
		w.Header()[RequestIDHeader] = ids
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		start := time.Now()
		next.ServeHTTP(sw, r)
		d := time.Since(start)
		if m != nil {
			class := sw.status / 100
			if class < 1 || class > 5 {
				class = 0
			}
			byClass[class].Observe(d.Seconds())
		}
		if logger == nil {
			return
		}
		logger.Info("request", slog.String("request_id", id), slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", sw.status), slog.Duration("duration", d))
	})
}

func validRequestID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// statusWriter records the status; Unwrap keeps flushing, hijacking
// (WebSocket) and deadlines working through http.ResponseController.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote && code >= 200 {
		w.status, w.wrote = code, true
	} else if code == http.StatusSwitchingProtocols {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
