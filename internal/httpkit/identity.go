package httpkit

// Identity headers. The gateway sets them on every request it forwards for
// an authenticated caller, after validating the caller's token, and removes
// any copies the client sent, so a service behind the gateway can read who
// is calling without parsing the token again. A service reachable other
// than through the gateway must verify the bearer token itself instead.
const (
	HeaderUserID   = "X-User-Id"
	HeaderUserRole = "X-User-Role"
)
