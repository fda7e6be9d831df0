//go:build !linux

package redistest

import "syscall"

// sysProcAttr: only Linux can tie a child's life to its parent's; elsewhere
// a killed test binary leaves its servers running (t.Cleanup still stops
// them when a test ends normally).
func sysProcAttr() *syscall.SysProcAttr { return nil }
