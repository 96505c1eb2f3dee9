package freeport

import "syscall"

// TryLock reports whether this process could lock port's byte of the
// shared file (and unlocks it again).
func TryLock(port int) bool {
	if _, err := reserveFile(); err != nil {
		return false
	}
	mu.Lock()
	defer mu.Unlock()
	if !setLock(port, syscall.F_WRLCK) {
		return false
	}
	setLock(port, syscall.F_UNLCK)
	return true
}

// EphemeralStart is the first port of the kernel's ephemeral range.
var EphemeralStart = ephemeralStart
