package devidp

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// duration is a time.Duration written as in Go ("90s", "1h30m") in JSON.
type duration time.Duration

func (d duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration is a string like \"90s\" or \"1h\"")
	}
	v, err := time.ParseDuration(s)
	*d = duration(v)
	return err
}

type lifetimesJSON struct {
	AccessToken  duration `json:"accessToken"`
	RefreshToken duration `json:"refreshToken"`
	RefreshIn    duration `json:"refreshIn"`
	AuthCode     duration `json:"authCode"`
	IDToken      duration `json:"idToken"`
}

// controlRoutes serves the test controls. Each takes a small JSON body (or
// none) and answers JSON, so curl and any language can drive them.
func (p *IdP) controlRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /_devidp/clock", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"now": p.Now()})
	})
	m.HandleFunc("POST /_devidp/clock", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Advance duration `json:"advance"`
		}
		if decode(w, r, &in) {
			p.Advance(time.Duration(in.Advance))
			writeJSON(w, http.StatusOK, map[string]any{"now": p.Now()})
		}
	})
	m.HandleFunc("GET /_devidp/lifetimes", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, toJSON(p.Lifetimes()))
	})
	m.HandleFunc("POST /_devidp/lifetimes", func(w http.ResponseWriter, r *http.Request) {
		var in lifetimesJSON
		if decode(w, r, &in) {
			p.SetLifetimes(Lifetimes{
				AccessToken: time.Duration(in.AccessToken), RefreshToken: time.Duration(in.RefreshToken),
				RefreshIn: time.Duration(in.RefreshIn), AuthCode: time.Duration(in.AuthCode), IDToken: time.Duration(in.IDToken),
			})
			writeJSON(w, http.StatusOK, toJSON(p.Lifetimes()))
		}
	})
	m.HandleFunc("POST /_devidp/refresh-rotation", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Strict bool `json:"strict"`
		}
		if decode(w, r, &in) {
			p.SetStrictRefreshRotation(in.Strict)
			writeJSON(w, http.StatusOK, in)
		}
	})
	m.HandleFunc("POST /_devidp/max-age", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Ignore bool `json:"ignore"`
		}
		if decode(w, r, &in) {
			p.SetIgnoreMaxAge(in.Ignore)
			writeJSON(w, http.StatusOK, in)
		}
	})
	m.HandleFunc("POST /_devidp/response-iss", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Send bool `json:"send"`
		}
		if decode(w, r, &in) {
			if err := p.SetResponseIss(in.Send); err != nil {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
				return
			}
			writeJSON(w, http.StatusOK, in)
		}
	})
	m.HandleFunc("POST /_devidp/revoke", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			User string `json:"user"`
		}
		if decode(w, r, &in) {
			writeJSON(w, http.StatusOK, map[string]int{"revoked": p.RevokeRefreshTokens(in.User)})
		}
	})
	m.HandleFunc("POST /_devidp/keys/rotate", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Tenant string `json:"tenant"`
		}
		if decode(w, r, &in) {
			if err := p.RotateKeys(in.Tenant); err != nil {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
				return
			}
			writeJSON(w, http.StatusOK, map[string]string{"rotated": in.Tenant})
		}
	})
	m.HandleFunc("POST /_devidp/errors", func(w http.ResponseWriter, r *http.Request) {
		var in QueuedError
		if decode(w, r, &in) {
			if err := p.QueueError(in); err != nil {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
				return
			}
			writeJSON(w, http.StatusOK, in)
		}
	})
	m.HandleFunc("POST /_devidp/outage", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			For duration `json:"for"`
		}
		if decode(w, r, &in) {
			p.SetOutage(time.Duration(in.For))
			writeJSON(w, http.StatusOK, map[string]any{"until": p.Now().Add(time.Duration(in.For))})
		}
	})
	m.HandleFunc("DELETE /_devidp/outage", func(w http.ResponseWriter, r *http.Request) {
		p.SetOutage(0)
		writeJSON(w, http.StatusOK, map[string]any{})
	})
	m.HandleFunc("POST /_devidp/latency", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Latency duration `json:"latency"`
		}
		if decode(w, r, &in) {
			p.SetLatency(time.Duration(in.Latency))
			writeJSON(w, http.StatusOK, in)
		}
	})
	m.HandleFunc("GET /_devidp/requests", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"requests": p.Requests(), "counts": p.Counts()})
	})
	m.HandleFunc("DELETE /_devidp/requests", func(w http.ResponseWriter, r *http.Request) {
		p.ResetRequests()
		writeJSON(w, http.StatusOK, map[string]any{})
	})
	m.HandleFunc("PUT /_devidp/apps/{clientId}/certificates", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Certificates []Certificate `json:"certificates"`
		}
		if decode(w, r, &in) {
			if err := p.SetAppCertificates(r.PathValue("clientId"), in.Certificates); err != nil {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
				return
			}
			writeJSON(w, http.StatusOK, map[string]int{"certificates": len(in.Certificates)})
		}
	})
	m.HandleFunc("GET /_devidp/directory", func(w http.ResponseWriter, r *http.Request) {
		d := p.Directory()
		type tenantJSON struct {
			Tenant
			Authority string `json:"authority"`
		}
		out := struct {
			Tenants []tenantJSON `json:"tenants"`
			Apps    []App        `json:"apps"`
			Users   []User       `json:"users"`
		}{Apps: d.Apps, Users: d.Users}
		for _, t := range d.Tenants {
			out.Tenants = append(out.Tenants, tenantJSON{t, baseURL(r) + "/" + t.ID})
		}
		writeJSON(w, http.StatusOK, out)
	})
}

func toJSON(l Lifetimes) lifetimesJSON {
	return lifetimesJSON{duration(l.AccessToken), duration(l.RefreshToken), duration(l.RefreshIn), duration(l.AuthCode), duration(l.IDToken)}
}

// decode reads an optional JSON body into v, or answers 400 and returns false.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "devidp: control: " + err.Error()})
		return false
	}
	return true
}
