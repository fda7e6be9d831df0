package ops

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/tenantgate/tenantgate/session"
)

var errBadRevoke = errors.New("ops: say what to revoke: session=<handle>; or tenant=<key> and user=<home account ID>; or tenant=<key> and all=true")

// RevokeRequest is one revocation: a session, a user's sessions, or a
// tenant's.
type RevokeRequest struct {
	Session string `json:"session"`
	Tenant  string `json:"tenant"`
	User    string `json:"user"`
	All     bool   `json:"all"`
}

func (rq RevokeRequest) values() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"session": rq.Session, "tenant": rq.Tenant, "user": rq.User} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if rq.All {
		v.Set("all", "true")
	}
	return v
}

// serveRevoke is POST /api/revoke (JSON or form; answers JSON) and POST
// /revoke (the page's forms: a confirmation step without JavaScript, then
// back to the page).
func (h *Handler) serveRevoke(w http.ResponseWriter, r *http.Request, p principal) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	var rq RevokeRequest
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		if err := json.NewDecoder(r.Body).Decode(&rq); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "ops: the body is not a JSON revocation: " + errBadRevoke.Error()})
			return
		}
	} else {
		_ = r.ParseForm()
		rq = RevokeRequest{Session: r.PostFormValue("session"), Tenant: r.PostFormValue("tenant"), User: r.PostFormValue("user"),
			All: r.PostFormValue("all") == "true" || r.PostFormValue("all") == "1"}
	}
	page := r.URL.Path == "/revoke"
	if !checkCSRF(r, p) {
		h.audit(p, "revoke", rq, "refused: no CSRF token", 0)
		writeJSON(w, http.StatusForbidden, map[string]string{"error": "ops: refused: the form's CSRF token is missing or wrong; use the ops page's buttons"})
		return
	}
	if page && r.PostFormValue("confirmed") != "1" {
		h.render(w, http.StatusOK, "confirm", confirmPage{Fields: rq.values(), CSRF: p.csrf, What: h.describe(r.Context(), rq)})
		return
	}
	n, err := h.revoke(r.Context(), rq)
	if err != nil {
		h.audit(p, "revoke", rq, "failed: "+err.Error(), n)
		h.apiError(w, err)
		return
	}
	h.audit(p, "revoke", rq, "ok", n)
	if page {
		back := url.Values{"revoked": {itoa(n)}}
		http.Redirect(w, r, "/?"+back.Encode(), http.StatusSeeOther)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"revoked": n})
}

func (h *Handler) revoke(ctx context.Context, rq RevokeRequest) (int, error) {
	switch {
	case rq.Session != "":
		handle := strings.ToLower(rq.Session)
		if _, err := h.o.Sessions.Lookup(ctx, handle); err != nil {
			if errors.Is(err, session.ErrNoSession) {
				return 0, nil
			}
			return 0, err
		}
		return 1, h.o.Sessions.Revoke(ctx, handle)
	case rq.Tenant != "" && rq.User != "":
		t, err := h.row(rq.Tenant)
		if err != nil {
			return 0, err
		}
		tokens, err := h.tokenOwners(ctx, session.Query{TenantID: t.TenantID, HomeAccountID: rq.User}, t)
		if err != nil {
			return 0, err
		}
		n, err := h.o.Sessions.RevokeUser(ctx, t.TenantID, rq.User)
		if err == nil {
			err = tokens.signOut(ctx)
		}
		if err == nil {
			// A sign-in that landed while the first pass ran may have made a
			// session the pass missed; with its tokens now gone, a second
			// pass ends it rather than leaving it to the next token check
			// (up to a minute, signin's tokenRecheck).
			var m int
			m, err = h.o.Sessions.RevokeUser(ctx, t.TenantID, rq.User)
			n += m
		}
		return n, err
	case rq.Tenant != "" && rq.All:
		t, err := h.row(rq.Tenant)
		if err != nil {
			return 0, err
		}
		tokens, err := h.tokenOwners(ctx, session.Query{TenantID: t.TenantID}, t)
		if err != nil {
			return 0, err
		}
		n, err := h.o.Sessions.RevokeTenant(ctx, t.TenantID)
		if err == nil {
			err = tokens.signOut(ctx)
		}
		if err == nil {
			// A sign-in that landed while the first pass ran may have made a
			// session the pass missed; with its tokens now gone, a second
			// pass ends it rather than leaving it to the next token check
			// (up to a minute, signin's tokenRecheck).
			var m int
			m, err = h.o.Sessions.RevokeTenant(ctx, t.TenantID)
			n += m
		}
		return n, err
	}
	return 0, errBadRevoke
}

// owners is what a user's or a tenant's revocation signs out of the token
// cache: each user, in the client of each app their sessions came through
// (the organizations app's sessions share a configured tenant's index).
type owners map[string]*ownerUsers

type ownerUsers struct {
	t     Tenant
	homes map[string]bool
}

// tokenOwners reads the sessions of q before they are revoked, for whose
// tokens to sign out. row is the owner when none is listed (the sessions
// are gone already, the tokens may not be).
func (h *Handler) tokenOwners(ctx context.Context, q session.Query, row Tenant) (owners, error) {
	o := owners{}
	add := func(t Tenant, home string) {
		if t.SignOut == nil {
			return
		}
		k := t.Key + " " + t.TenantID
		if o[k] == nil {
			o[k] = &ownerUsers{t: t, homes: map[string]bool{}}
		}
		o[k].homes[home] = true
	}
	q.Limit = 1000
	for {
		p, err := h.o.Sessions.List(ctx, q)
		if err != nil {
			return nil, err
		}
		for _, i := range p.Sessions {
			if t, ok := h.owner(i); ok {
				add(t, i.HomeAccountID)
			}
		}
		if q.Cursor = p.Next; q.Cursor == "" {
			break
		}
	}
	if q.HomeAccountID != "" && len(o) == 0 {
		add(row, q.HomeAccountID)
	}
	return o, nil
}

// signOut signs every user out of their owners' token caches.
func (o owners) signOut(ctx context.Context) error {
	for _, ou := range o {
		for u := range ou.homes {
			if err := ou.t.SignOut(ctx, u); err != nil {
				return err
			}
		}
	}
	return nil
}

// describe says in words what a revocation will do, for the confirmation.
func (h *Handler) describe(ctx context.Context, rq RevokeRequest) string {
	switch {
	case rq.Session != "":
		if v, err := h.lookup(ctx, rq.Session); err == nil {
			return "the session " + v.Short + " of " + v.Username + " in " + v.TenantKey
		}
		return "the session " + rq.Session
	case rq.User != "":
		return "every session of " + rq.User + " in " + rq.Tenant + ", and their tokens"
	case rq.All:
		return "every session of tenant " + rq.Tenant + ", and their tokens"
	}
	return "nothing (the form names no session, user or tenant)"
}

// audit logs one admin action: who, how authenticated, what, which
// target, the outcome.
func (h *Handler) audit(p principal, action string, rq RevokeRequest, result string, n int) {
	attrs := []any{slog.String("who", p.Who), slog.String("via", p.Via), slog.String("action", action), slog.String("result", result), slog.Int("count", n)}
	if rq.Session != "" {
		attrs = append(attrs, slog.String("session", shortHandle(rq.Session)))
	}
	// The page names tenants by ID; the line names the row both ways.
	tenant, tenantID := rq.Tenant, ""
	if rows := h.rows(rq.Tenant); rq.Tenant != "" && len(rows) == 1 {
		tenant, tenantID = rows[0].Key, rows[0].TenantID
	}
	if tenant != "" {
		attrs = append(attrs, slog.String("tenant", tenant))
	}
	if rq.User != "" {
		attrs = append(attrs, slog.String("user", rq.User))
	}
	if rq.All {
		attrs = append(attrs, slog.Bool("all", true))
	}
	if tenantID != "" {
		attrs = append(attrs, slog.String("tenant_id", tenantID))
	}
	h.o.Logger.Info("ops: audit", attrs...)
}

func shortHandle(s string) string {
	if len(s) > 16 {
		return s[:16]
	}
	return s
}
