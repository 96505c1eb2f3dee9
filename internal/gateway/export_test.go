package gateway

// ClientIP exposes the client address rule to the tests.
var ClientIP = clientIP
