package tokencache

import (
	"sync"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
)

// credHolder lets the credential change under concurrent calls. Each
// change starts a new generation, which every client records, so a client
// built from the old credential is recognised however its construction
// interleaved with the change.
type credHolder struct {
	mu   sync.RWMutex
	cred confidential.Credential
	gen  uint64
}

func (h *credHolder) set(c confidential.Credential) {
	h.mu.Lock()
	h.cred = c
	h.gen++
	h.mu.Unlock()
}

// get returns the credential and its generation, read together.
func (h *credHolder) get() (confidential.Credential, uint64) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.cred, h.gen
}

// generation is the current generation.
func (h *credHolder) generation() uint64 {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.gen
}
