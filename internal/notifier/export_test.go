package notifier

// DecodeAlerts exposes the webhook decoder to the fuzz test.
var DecodeAlerts = decodeAlerts
