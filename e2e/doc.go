// Package e2e holds CloudCart's browser end-to-end tests: the console of
// `cloudcart run` driven in headless Chromium with chromedp. It has only
// tests and is a module of its own, so that chromedp stays out of the main
// go.mod; `make test` runs it. README.md says how to add a test here.
package e2e
