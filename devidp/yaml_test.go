package devidp_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tenantgate/tenantgate/devidp"
	"github.com/tenantgate/tenantgate/devidp/devidptest"
)

func TestLoadDirectoryServesIt(t *testing.T) {
	d, err := devidp.LoadDirectory("testdata/directory.yaml")
	if err != nil {
		t.Fatal(err)
	}
	srv := devidptest.Start(t, devidptest.WithDirectory(d))
	if srv.ClientID() != "0bde0000-0000-4000-8000-0000000000de" {
		t.Fatalf("client %s", srv.ClientID())
	}
	c := secretClient(t, srv, srv.Authority("tailspin.example"), "orders-secret")
	res := signIn(t, srv, c, "nina@northwind.onmicrosoft.com", []string{"api://" + srv.ClientID() + "/Orders.Read"})
	claims := decodeClaims(t, res.AccessToken)
	if claims["scp"] != "Orders.Read" || claims["tid"] != "7a115b1e-0000-4000-8000-0000000007a1" {
		t.Fatalf("claims %v", claims)
	}
	if roles, _ := claims["roles"].([]any); len(roles) != 1 || roles[0] != "Orders.Admin" {
		t.Fatalf("roles %v", claims["roles"])
	}
}

func TestLoadDirectoryErrorsNameTheField(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"tenants:\n  - name: a\n    id: not-a-guid\n", "tenants[0]: id"},
		{"tenants:\n  - nme: a\n", "field nme not found"},
		{"tenants:\n  - {name: a, id: 0a0b0c0d-0000-4000-8000-00000000a0b0}\nusers:\n  - {username: u@a, tenant: b}\n", "users[0]: tenant"},
		{"tenants:\n  - {name: a, id: 0a0b0c0d-0000-4000-8000-00000000a0b0, kind: b2c}\n", "tenants[0]: kind"},
		{"tenants:\n  - {name: a, id: 0a0b0c0d-0000-4000-8000-00000000a0b0}\napps:\n  - {clientId: 0bde0000-0000-4000-8000-0000000000de, tenants: [a], certificates: [{pem: x}]}\n", "apps[0]: certificates[0].pem"},
		{"tenants: {}\n", "line 1"},
	} {
		path := filepath.Join(t.TempDir(), "dir.yaml")
		if err := os.WriteFile(path, []byte(tc.yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := devidp.LoadDirectory(path)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%q: got %v, want an error naming %q and the file", tc.yaml, err, tc.want)
		}
	}
}
