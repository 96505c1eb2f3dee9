package users_test

import (
	"testing"

	"github.com/cloudcart/cloudcart/internal/httpkit/httpkittest"
	"github.com/cloudcart/cloudcart/internal/users"
)

// FuzzDecodeRequests: every JSON body the user service reads.
func FuzzDecodeRequests(f *testing.F) {
	httpkittest.FuzzDecodeJSON(f, users.RequestTypes, map[string][]string{
		"register": {`{"email":"a@example.com","name":"A","password":"correct horse battery"}`, `{"email":1}`},
		"login":    {`{"email":"a@example.com","password":"x"}`, `{"email":"a@example.com","password":"x","extra":1}`},
		"profile":  {`{"name":"B","email":null,"password":"new password 123","current_password":"old"}`},
		"admin":    {`{"role":"admin","active":false}`, `{"role":"root"}`, `{"role":5}`},
	})
}
