package orders

import (
	"net/http"
	"net/http/httputil"
	"net/url"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/httpkit"
)

// UsersProxy serves reference 003's `GET /users` on the order service by
// proxying it to the user service's list (which checks the caller's admin
// token itself). Without a user service it answers 503.
func UsersProxy(usersURL string, transport http.RoundTripper) http.Handler {
	u, err := url.Parse(usersURL)
	if usersURL == "" || err != nil {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			httpkit.Error(w, r, nil, cloudcart.Errorf(cloudcart.EUNAVAILABLE, "no user service configured (--orders.users-url)"))
		})
	}
	p := httputil.NewSingleHostReverseProxy(u)
	p.Transport = transport
	p.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		httpkit.Error(w, r, nil, &cloudcart.Error{Code: cloudcart.EUNAVAILABLE, Message: "user service unavailable", Err: err})
	}
	return p
}
