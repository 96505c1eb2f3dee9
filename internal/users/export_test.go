package users

// WeakHashingForTests lets a test build a service with a bcrypt cost below
// MinBcryptCost, so suites that hash many passwords stay fast. Only tests
// can reach it.
func WeakHashingForTests(o *Options) { o.weakHashing = true }
