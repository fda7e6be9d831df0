package ops

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

var pages = template.Must(template.ParseFS(assets, "assets/pages.html"))

type loginPage struct {
	SignInURL, Role string
	Token, Failed   bool
}

type confirmPage struct {
	Fields url.Values
	CSRF   string
	What   string
}

// row is a session as one line of the table, formatted once for the
// server's HTML and the live view's snapshots alike.
type row struct {
	Handle   string `json:"handle"`
	Short    string `json:"short"`
	Tenant   string `json:"tenant"`
	TenantID string `json:"tenant_id"`
	Username string `json:"username"`
	Name     string `json:"name"`
	Home     string `json:"home"`
	Created  string `json:"created"`
	LastSeen string `json:"last_seen"`
	Ends     string `json:"ends"`
	Tokens   string `json:"tokens"`
	Replica  string `json:"replica"`
	Client   string `json:"client"`
	CSRF     string `json:"-"`
}

type mainPage struct {
	Who, Via, CSRF string
	Tenants        []TenantView
	Rows           []row
	Filter         Filter
	Next, Events   string
	Revoked, Error string
}

type sessionPage struct {
	S    SessionView
	CSRF string
}

func (h *Handler) render(w http.ResponseWriter, status int, name string, data any) {
	var b bytes.Buffer
	if err := pages.ExecuteTemplate(&b, name, data); err != nil {
		http.Error(w, "ops: rendering the page failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "–"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

func clock(t time.Time) string { return t.UTC().Format("15:04:05Z") }

// tokenSummary is a session's token status in a few words.
func tokenSummary(v *TokenView) string {
	if v == nil {
		return "–"
	}
	var parts []string
	switch v.State {
	case "ok":
		for _, a := range v.AccessTokens {
			parts = append(parts, "access token until "+clock(a.ExpiresOn))
		}
		if v.RefreshToken {
			parts = append(parts, "refresh token held")
		} else {
			parts = append(parts, "no refresh token")
		}
		if v.Acquired != nil {
			parts = append(parts, "acquired "+clock(*v.Acquired))
		}
	default:
		parts = append(parts, strings.ReplaceAll(v.State, "_", " "))
	}
	if r := v.LastRefresh; r != nil {
		result := r.Result
		if r.Error != "" {
			result += " (" + r.Error + ")"
		}
		parts = append(parts, fmt.Sprintf("last refresh %s %s on %s", clock(r.At), result, r.Replica))
	}
	return strings.Join(parts, "; ")
}

func rowOf(v SessionView, csrf string) row {
	client := v.ClientIP
	if ua := v.UserAgent; ua != "" {
		if len(ua) > 40 {
			ua = ua[:40] + "…"
		}
		client += " " + ua
	}
	return row{Handle: v.Handle, Short: v.Short, Tenant: v.TenantKey, TenantID: v.TenantID, Username: v.Username, Name: v.DisplayName, Home: v.HomeAccountID,
		Created: stamp(v.Created), LastSeen: stamp(v.LastSeen), Ends: stamp(minTime(v.IdleExpires, v.AbsoluteExpires)),
		Tokens: tokenSummary(v.Tokens), Replica: v.Replica, Client: client, CSRF: csrf}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func (h *Handler) servePage(w http.ResponseWriter, r *http.Request, p principal) {
	f := filterOf(r)
	d := mainPage{Who: p.Who, Via: p.Via, CSRF: p.csrf, Filter: f, Tenants: h.tenants(r.Context()), Revoked: r.URL.Query().Get("revoked")}
	if _, err := strconv.Atoi(d.Revoked); err != nil {
		d.Revoked = ""
	}
	q := url.Values{}
	if f.Tenant != "" {
		q.Set("tenant", f.Tenant)
	}
	if f.User != "" {
		q.Set("user", f.User)
	}
	d.Events = "/events?" + q.Encode()
	list, err := h.list(r.Context(), f)
	if err != nil {
		d.Error = strings.TrimPrefix(err.Error(), "ops: ")
	}
	for _, v := range list.Sessions {
		d.Rows = append(d.Rows, rowOf(v, p.csrf))
	}
	if list.Next != "" {
		q.Set("cursor", list.Next)
		d.Next = "/?" + q.Encode()
	}
	h.render(w, http.StatusOK, "page", d)
}

func (h *Handler) serveSessionPage(w http.ResponseWriter, r *http.Request, p principal) {
	v, err := h.lookup(r.Context(), r.PathValue("handle"))
	if err != nil {
		h.apiError(w, err)
		return
	}
	h.render(w, http.StatusOK, "session", sessionPage{S: v, CSRF: p.csrf})
}

// snapshot is one state of the live view.
type snapshot struct {
	Tenants []TenantView `json:"tenants"`
	Rows    []row        `json:"rows"`
}

// serveEvents streams the page's state as server-sent events. It polls the
// indexes every Options.Poll and sends a snapshot when anything changed,
// so sign-ins and revocations on any replica (and sessions that expire)
// show within about one poll.
func (h *Handler) serveEvents(w http.ResponseWriter, r *http.Request, p principal) {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	f := filterOf(r)
	f.Cursor = ""
	var last []byte
	tick := time.NewTicker(h.o.Poll)
	defer tick.Stop()
	keepAlive := time.NewTicker(15 * time.Second)
	defer keepAlive.Stop()
	for {
		s := snapshot{Tenants: h.tenants(r.Context()), Rows: []row{}}
		if list, err := h.list(r.Context(), f); err == nil {
			for _, v := range list.Sessions {
				s.Rows = append(s.Rows, rowOf(v, ""))
			}
			b, _ := json.Marshal(s)
			if !bytes.Equal(b, last) {
				last = b
				if _, err := fmt.Fprintf(w, "event: snapshot\ndata: %s\n\n", b); err != nil {
					return
				}
				if rc.Flush() != nil {
					return
				}
			}
		}
		select {
		case <-r.Context().Done():
			return
		case <-keepAlive.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil || rc.Flush() != nil {
				return
			}
		case <-tick.C:
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
