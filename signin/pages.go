package signin

import (
	"html/template"
	"net/http"
)

// The pages are plain HTML without scripts or outside assets, so they
// work under any Content-Security-Policy the app sets.
var (
	pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto">
<h1>{{.Title}}</h1><p>{{.Text}}</p><p><a href="/">Home</a></p></body></html>
`))
	chooserTmpl = template.Must(template.New("chooser").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Choose your organization</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto">
<h1>Sign in</h1><p>Choose your organization:</p>
<ul>{{range .}}<li><a href="{{.URL}}">{{.Name}}</a></li>{{end}}</ul></body></html>
`))
	confirmTmpl = template.Must(template.New("confirm").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign out?</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto">
<h1>Sign out?</h1>
<form method="post" action="{{.Action}}"><input type="hidden" name="csrf" value="{{.Token}}">
<button type="submit">Sign out</button></form></body></html>
`))
)

type confirmPage struct{ Action, Token string }

func page(w http.ResponseWriter, status int, title, text string) {
	render(w, status, pageTmpl, struct{ Title, Text string }{title, text})
}

func render(w http.ResponseWriter, status int, t *template.Template, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	w.WriteHeader(status)
	_ = t.Execute(w, data)
}
