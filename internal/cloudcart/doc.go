// Package cloudcart holds CloudCart's domain: orders, their items and
// lifecycle, the store interfaces services depend on, and the error codes
// every layer speaks. It imports no infrastructure: HTTP, SQL, telemetry and
// the event bus live in their own packages and talk to each other only in
// the terms defined here.
package cloudcart
