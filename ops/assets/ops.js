// The ops page's live view: it re-renders the tenant counts and the
// session table from the server's snapshots (server-sent events), and
// asks for a second click before a revocation. It builds rows with DOM
// calls only (no innerHTML), so no value can become markup.
(function () {
  "use strict";
  document.addEventListener("submit", function (e) {
    var f = e.target;
    if (!f.classList || !f.classList.contains("revoke")) return;
    var c = f.querySelector("input[name=confirmed]");
    if (c.value === "1") return;
    e.preventDefault();
    c.value = "1";
    var b = f.querySelector("button");
    b.textContent = "Confirm: " + (f.dataset.confirm || "revoke?");
    b.classList.add("confirm");
  });

  var table = document.getElementById("sessions");
  if (!table || !window.EventSource) return;
  var live = document.getElementById("live");
  var csrf = table.dataset.csrf;

  function hidden(name, value) {
    var i = document.createElement("input");
    i.type = "hidden"; i.name = name; i.value = value;
    return i;
  }
  function revokeForm(fields, label, cls, confirmText) {
    var f = document.createElement("form");
    f.className = "revoke"; f.method = "post"; f.action = "/revoke";
    f.dataset.confirm = confirmText;
    f.appendChild(hidden("csrf", csrf));
    Object.keys(fields).forEach(function (k) { f.appendChild(hidden(k, fields[k])); });
    f.appendChild(hidden("confirmed", ""));
    var b = document.createElement("button");
    b.type = "submit"; b.className = cls; b.textContent = label;
    f.appendChild(b);
    return f;
  }
  function cell(tr, text, cls) {
    var td = document.createElement("td");
    if (cls) td.className = cls;
    td.textContent = text;
    tr.appendChild(td);
    return td;
  }
  function row(r) {
    var tr = document.createElement("tr");
    tr.dataset.handle = r.handle; tr.dataset.user = r.username;
    cell(tr, r.tenant);
    var u = cell(tr, "");
    var n = document.createElement("span"); n.className = "name"; n.textContent = r.name; u.appendChild(n);
    u.appendChild(document.createElement("br"));
    var m = document.createElement("span"); m.className = "mono small"; m.textContent = r.username; u.appendChild(m);
    var s = cell(tr, "", "mono");
    var a = document.createElement("a"); a.href = "/session/" + r.handle; a.textContent = r.short; s.appendChild(a);
    cell(tr, r.created); cell(tr, r.last_seen); cell(tr, r.ends); cell(tr, r.tokens, "tokens");
    cell(tr, r.replica); cell(tr, r.client, "small");
    var act = cell(tr, "");
    act.appendChild(revokeForm({session: r.handle}, "Revoke", "revoke-session", "Revoke this session of " + r.username + "?"));
    act.appendChild(document.createTextNode(" "));
    act.appendChild(revokeForm({tenant: r.tenant_id, user: r.home}, "Revoke user", "revoke-user", "Revoke every session of " + r.username + " in " + r.tenant + "?"));
    return tr;
  }
  function pending(body) {
    return body.querySelector("button.confirm") !== null;
  }
  function render(snap) {
    (snap.tenants || []).forEach(function (t) {
      var tr = document.querySelector('#tenants tr[data-tenant="' + CSS.escape(t.tenant_id) + '"] td.count');
      if (tr) tr.textContent = String(t.sessions) + (t.error ? " (" + t.error + ")" : "");
    });
    var body = table.tBodies[0];
    if (pending(body)) return; // do not pull a confirmation from under the operator
    var rows = document.createDocumentFragment();
    (snap.rows || []).forEach(function (r) { rows.appendChild(row(r)); });
    if (!snap.rows || snap.rows.length === 0) {
      var tr = document.createElement("tr"); tr.className = "empty";
      var td = cell(tr, "No live session."); td.colSpan = 10;
      rows.appendChild(tr);
    }
    body.replaceChildren(rows);
  }
  var es = new EventSource(table.dataset.events);
  es.addEventListener("snapshot", function (ev) {
    render(JSON.parse(ev.data));
    live.textContent = "Live: updated " + new Date().toLocaleTimeString();
  });
  es.onerror = function () { live.textContent = "Live updates interrupted; retrying…"; };
})();
