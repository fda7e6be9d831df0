package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tenantgate/tenantgate/session"
)

// SessionView is a session as the API and the page show it: metadata and
// token status, never the cookie or a token.
type SessionView struct {
	Handle          string     `json:"handle"`
	Short           string     `json:"short"`
	TenantKey       string     `json:"tenant"`
	TenantID        string     `json:"tenant_id"`
	HomeAccountID   string     `json:"home_account_id"`
	ObjectID        string     `json:"object_id,omitempty"`
	Username        string     `json:"username,omitempty"`
	DisplayName     string     `json:"display_name,omitempty"`
	Created         time.Time  `json:"created"`
	LastSeen        time.Time  `json:"last_seen"`
	IdleExpires     time.Time  `json:"idle_expires"`
	AbsoluteExpires time.Time  `json:"absolute_expires"`
	ClientIP        string     `json:"client_ip,omitempty"`
	UserAgent       string     `json:"user_agent,omitempty"`
	Replica         string     `json:"replica,omitempty"`
	Tokens          *TokenView `json:"tokens,omitempty"`
}

// TokenView is a session's token status.
type TokenView struct {
	// State is ok, signed_out, absent, unreadable or unavailable.
	State        string         `json:"state"`
	RefreshToken bool           `json:"refresh_token"`
	AccessTokens []ScopeView    `json:"access_tokens,omitempty"`
	LastRefresh  *RefreshRecord `json:"last_refresh,omitempty"`
	Acquired     *time.Time     `json:"last_acquired,omitempty"`
}

// ScopeView is one access token's status, with the last refresh of its
// scopes (failed ones too) when one is known.
type ScopeView struct {
	Scopes      string         `json:"scopes"`
	ExpiresOn   time.Time      `json:"expires_on"`
	Acquired    time.Time      `json:"acquired"`
	RefreshOn   *time.Time     `json:"refresh_on,omitempty"`
	LastRefresh *RefreshRecord `json:"last_refresh,omitempty"`
}

type TenantView struct {
	Key      string `json:"key"`
	TenantID string `json:"tenant_id"`
	Sessions int    `json:"sessions"`
	Error    string `json:"error,omitempty"`
}

type SessionsPage struct {
	Sessions []SessionView `json:"sessions"`
	Next     string        `json:"next,omitempty"`
}

// filter is what a listing asks for.
type Filter struct {
	Tenant string // key or ID; "" every tenant
	User   string // home account ID, or a username (contains "@")
	Cursor string
	Limit  int
}

func filterOf(r *http.Request) Filter {
	q := r.URL.Query()
	f := Filter{Tenant: strings.TrimSpace(q.Get("tenant")), User: strings.TrimSpace(q.Get("user")), Cursor: q.Get("cursor")}
	f.Limit, _ = strconv.Atoi(q.Get("limit"))
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 100
	}
	return f
}

// rows finds the tenants a filter or revocation names: the one with that
// tenant ID, or every one with that key (the organizations app has a row
// per allowed tenant).
func (h *Handler) rows(keyOrID string) []Tenant {
	var byKey []Tenant
	for _, t := range h.o.Tenants() {
		if strings.EqualFold(t.TenantID, keyOrID) {
			return []Tenant{t}
		}
		if t.Key == keyOrID {
			byKey = append(byKey, t)
		}
	}
	return byKey
}

// row is the one tenant a revocation names.
func (h *Handler) row(keyOrID string) (Tenant, error) {
	switch ts := h.rows(keyOrID); len(ts) {
	case 0:
		return Tenant{}, errUnknownTenant
	case 1:
		return ts[0], nil
	default:
		return Tenant{}, fmt.Errorf("%w: %q serves %d tenants; name one by its tenant ID", errAmbiguousTenant, keyOrID, len(ts))
	}
}

// owner is the tenant whose client holds a session's tokens: the row of
// the session's key and tenant ID, else Options.Owner's (a session of the
// organizations app in a tenant configured on its own). ok is false when
// neither knows it: the session is shown without token status.
func (h *Handler) owner(i session.Info) (Tenant, bool) {
	for _, t := range h.o.Tenants() {
		if t.Key == i.TenantKey && strings.EqualFold(t.TenantID, i.TenantID) {
			return t, true
		}
	}
	if h.o.Owner != nil {
		return h.o.Owner(i.TenantKey, i.TenantID)
	}
	return Tenant{}, false
}

var (
	errUnknownTenant   = errors.New("ops: no such tenant: use a configured tenant key or ID (GET /api/tenants)")
	errAmbiguousTenant = errors.New("ops: the tenant key names several tenants")
)

func (h *Handler) tenants(ctx context.Context) []TenantView {
	var out []TenantView
	for _, t := range h.o.Tenants() {
		v := TenantView{Key: t.Key, TenantID: t.TenantID}
		n, err := h.o.Sessions.Count(ctx, t.TenantID)
		if err != nil {
			v.Error = "store unavailable"
		}
		v.Sessions = n
		out = append(out, v)
	}
	return out
}

// list returns a page of sessions for f, with token status.
func (h *Handler) list(ctx context.Context, f Filter) (SessionsPage, error) {
	ts := h.o.Tenants()
	if f.Tenant == "" {
		f.Cursor = "" // a cursor belongs to one index
	} else if ts = h.rows(f.Tenant); len(ts) == 0 {
		return SessionsPage{}, errUnknownTenant
	} else if len(ts) > 1 {
		f.Cursor = ""
	}
	byName := strings.Contains(f.User, "@")
	var out SessionsPage
	for _, t := range ts {
		q := session.Query{TenantID: t.TenantID, Cursor: f.Cursor, Limit: f.Limit}
		if f.User != "" && !byName {
			q.HomeAccountID = f.User
		}
		for {
			p, err := h.o.Sessions.List(ctx, q)
			if err != nil {
				return SessionsPage{}, err
			}
			for _, i := range p.Sessions {
				if byName && !strings.EqualFold(i.Username, f.User) {
					continue
				}
				out.Sessions = append(out.Sessions, h.view(ctx, i))
			}
			// A username filter reads the tenant's pages until it has a
			// page's worth; otherwise one page per request.
			if !byName || p.Next == "" || len(out.Sessions) >= f.Limit {
				if len(ts) == 1 {
					out.Next = p.Next
				}
				break
			}
			q.Cursor = p.Next
		}
	}
	if out.Sessions == nil {
		out.Sessions = []SessionView{}
	}
	return out, nil
}

func (h *Handler) view(ctx context.Context, i session.Info) SessionView {
	v := SessionView{Handle: i.Handle, Short: i.Short(), TenantKey: i.TenantKey, TenantID: i.TenantID,
		HomeAccountID: i.HomeAccountID, ObjectID: i.ObjectID, Username: i.Username, DisplayName: i.DisplayName,
		Created: i.Created, LastSeen: i.LastSeen, IdleExpires: i.IdleExpires, AbsoluteExpires: i.AbsoluteExpires,
		ClientIP: i.ClientIP, UserAgent: i.UserAgent, Replica: i.Replica}
	t, ok := h.owner(i)
	if !ok || t.Status == nil {
		return v
	}
	tv := &TokenView{}
	var refreshes []RefreshRecord
	if h.o.Refreshes != nil {
		if refreshes = h.o.Refreshes.All(ctx, i.TenantID, i.HomeAccountID); len(refreshes) > 0 {
			tv.LastRefresh = &refreshes[0]
		}
	}
	st, err := t.Status(ctx, i.HomeAccountID)
	switch {
	case err != nil:
		tv.State = "unavailable"
	case !st.Found:
		tv.State = "absent"
	case st.SignedOut:
		tv.State = "signed_out"
	case st.Unreadable:
		tv.State = "unreadable"
	default:
		tv.State = "ok"
		tv.RefreshToken = st.RefreshToken
		for _, a := range st.AccessTokens {
			sv := ScopeView{Scopes: a.Scopes, ExpiresOn: a.ExpiresOn, Acquired: a.CachedAt}
			if !a.RefreshOn.IsZero() {
				ro := a.RefreshOn
				sv.RefreshOn = &ro
			}
			set := scopeSet(a.Scopes)
			for k := range refreshes {
				if refreshes[k].Scopes == set {
					sv.LastRefresh = &refreshes[k]
					break
				}
			}
			tv.AccessTokens = append(tv.AccessTokens, sv)
		}
		if la := st.LastAcquired(); !la.IsZero() {
			tv.Acquired = &la
		}
	}
	v.Tokens = tv
	return v
}

func (h *Handler) apiTenants(w http.ResponseWriter, r *http.Request, _ principal) {
	writeJSON(w, http.StatusOK, map[string]any{"tenants": h.tenants(r.Context())})
}

func (h *Handler) apiSessions(w http.ResponseWriter, r *http.Request, _ principal) {
	p, err := h.list(r.Context(), filterOf(r))
	if err != nil {
		h.apiError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (h *Handler) apiSession(w http.ResponseWriter, r *http.Request, _ principal) {
	v, err := h.lookup(r.Context(), r.PathValue("handle"))
	if err != nil {
		h.apiError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// lookup finds a session by its full handle (64 hex digits: the SHA-256
// of its ID, never the cookie).
func (h *Handler) lookup(ctx context.Context, handle string) (SessionView, error) {
	i, err := h.o.Sessions.Lookup(ctx, strings.ToLower(handle))
	if err != nil {
		return SessionView{}, err
	}
	return h.view(ctx, i), nil
}

func (h *Handler) apiError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, session.ErrNoSession):
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such session (gone, or not a full 64-digit handle)"})
	case errors.Is(err, errUnknownTenant), errors.Is(err, errAmbiguousTenant), errors.Is(err, errBadRevoke):
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
	case strings.Contains(err.Error(), "cursor"):
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
	default:
		h.o.Logger.Warn("ops: store failure", slog.Any("err", err))
		w.Header().Set("Retry-After", "5")
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "the store is unavailable: retry in a few seconds"})
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
