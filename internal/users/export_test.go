package users

// WeakHashingForTests lets a test build a service with a bcrypt cost below
// MinBcryptCost, so suites that hash many passwords stay fast. Only tests
// can reach it.
func WeakHashingForTests(o *Options) { o.weakHashing = true }

// RequestTypes are the JSON bodies the service decodes, for the fuzz test.
var RequestTypes = map[string]func() any{
	"register": func() any { return new(registerRequest) },
	"login":    func() any { return new(loginRequest) },
	"profile":  func() any { return new(ProfileUpdate) },
	"admin":    func() any { return new(AdminUpdate) },
}
