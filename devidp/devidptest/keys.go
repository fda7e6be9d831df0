package devidptest

import (
	"crypto/rsa"
	"sync"

	"github.com/tenantgate/tenantgate/devidp"
)

// keyPool holds the RSA keys made so far in this process. RSA key
// generation takes up to seconds under the race detector, and every IdP
// needs a few, so the n-th key any IdP asks for is the same key: tests stay
// fast, and IdPs in one process share keys, which no test may rely on.
var keyPool struct {
	mu   sync.Mutex
	keys []*rsa.PrivateKey
}

// Keys returns a key source for devidp.Options.NewKey that takes keys from
// the process-wide pool in order, generating only those not made yet.
func Keys() func() (*rsa.PrivateKey, error) {
	next := 0
	return func() (*rsa.PrivateKey, error) {
		keyPool.mu.Lock()
		defer keyPool.mu.Unlock()
		if next < len(keyPool.keys) {
			next++
			return keyPool.keys[next-1], nil
		}
		k, err := devidp.GenerateKey()
		if err != nil {
			return nil, err
		}
		keyPool.keys = append(keyPool.keys, k)
		next++
		return k, nil
	}
}
