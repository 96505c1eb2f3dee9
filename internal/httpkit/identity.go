package httpkit

// Identity headers. The gateway sets them on the requests it forwards for
// a caller whose token it verified, and removes any copies the client
// sent. They are informational (logs, debugging): no service decides
// anything on them. Services verify the forwarded bearer token themselves
// (package authn), because a header proves nothing about who sent it.
const (
	HeaderUserID   = "X-User-Id"
	HeaderUserRole = "X-User-Role"
)
