package devidptest

import (
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

var hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)

// SignIn plays the browser's part of an authorization request: it sends
// authorizeURL with username chosen on the sign-in page (or, when username
// is "", as is, e.g. for prompt=none), and returns the parameters the IdP
// sends to the redirect URI (code, state, or error and error_description),
// whether by query or form_post. browser may be nil; pass Browser() to keep
// the IdP's session between calls.
func (s *Server) SignIn(browser *http.Client, authorizeURL, username string) (url.Values, error) {
	if browser == nil {
		browser = s.Browser()
	}
	var resp *http.Response
	var err error
	if username == "" {
		resp, err = browser.Get(authorizeURL)
	} else {
		resp, err = browser.PostForm(authorizeURL, url.Values{"username": {username}})
	}
	if err != nil {
		return nil, fmt.Errorf("devidptest: sign-in: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("devidptest: sign-in: %w", err)
	}
	switch {
	case resp.StatusCode == http.StatusFound:
		u, err := url.Parse(resp.Header.Get("Location"))
		if err != nil {
			return nil, fmt.Errorf("devidptest: sign-in: bad redirect: %w", err)
		}
		return u.Query(), nil
	case resp.StatusCode == http.StatusOK && strings.Contains(string(body), `onload="document.forms[0].submit()"`):
		v := url.Values{}
		for _, m := range hiddenInput.FindAllStringSubmatch(string(body), -1) {
			v.Add(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
		}
		return v, nil
	case resp.StatusCode == http.StatusOK:
		return nil, errors.New("devidptest: sign-in: the IdP showed its sign-in page; pass a username")
	}
	return nil, fmt.Errorf("devidptest: sign-in: status %d: %s", resp.StatusCode, strings.TrimSpace(stripTags(string(body))))
}

var tags = regexp.MustCompile(`<[^>]*>`)

func stripTags(s string) string { return html.UnescapeString(tags.ReplaceAllString(s, " ")) }
