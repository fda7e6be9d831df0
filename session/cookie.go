package session

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/textproto"
	"strings"
)

// id is a session ID: what only the browser holds.
type id [32]byte

// cookieLen is the length of an ID in base64url without padding.
const cookieLen = 43

var cookieEncoding = base64.RawURLEncoding.Strict()

func newID() id {
	var b id
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+).
	return b
}

func (i id) cookieValue() string { return cookieEncoding.EncodeToString(i[:]) }

// handle is the hex SHA-256 of the ID: the store key's last part and the
// index member. It is what operators see; it cannot be turned back into
// the ID.
func (i id) handle() string {
	sum := sha256.Sum256(i[:])
	return hex.EncodeToString(sum[:])
}

// parseCookie accepts exactly the values cookieValue produces. Anything
// else (tampered, truncated, padded, another alphabet) is no session.
func parseCookie(value string) (id, bool) {
	var i id
	if len(value) != cookieLen {
		return i, false
	}
	n, err := cookieEncoding.Decode(i[:], []byte(value))
	if err != nil || n != len(i) {
		return id{}, false
	}
	return i, true
}

// validHandle reports whether h is a handle's shape (64 lowercase hex), so
// that a handle from an operator's request never builds an arbitrary key.
func validHandle(h string) bool {
	if len(h) != 2*sha256.Size {
		return false
	}
	for _, c := range []byte(h) {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// cookie is the session cookie for value; an empty value clears it.
func (m *Manager) cookie(value string) *http.Cookie {
	c := &http.Cookie{
		Name:     m.cookieName,
		Value:    value,
		Path:     "/",
		Secure:   m.secure,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	}
	if value == "" {
		c.MaxAge = -1
	}
	return c
}

// requestID is the ID of the request's cookie, if it carries a valid one:
// the first cookie of the session's name whose value is an ID. It scans
// the Cookie headers in place instead of r.Cookie, which parses every
// cookie of the request into new values, on every request.
func (m *Manager) requestID(r *http.Request) (id, bool) {
	seen := false
	for _, line := range r.Header["Cookie"] {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			name, value, ok := strings.Cut(textproto.TrimString(part), "=")
			if !ok || textproto.TrimString(name) != m.cookieName { // net/http trims names too
				continue
			}
			seen = true
			if len(value) > 1 && value[0] == '"' && value[len(value)-1] == '"' {
				value = value[1 : len(value)-1] // as net/http reads a quoted value
			}
			if i, ok := parseCookie(value); ok {
				return i, true
			}
		}
	}
	if seen {
		m.badCookies.Add(1)
	}
	return id{}, false
}
