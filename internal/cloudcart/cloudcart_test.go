package cloudcart_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
)

func TestParseMoney(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want cloudcart.Money
		ok   bool
	}{
		{"0", 0, true}, {"12", 1200, true}, {"12.5", 1250, true}, {"12.34", 1234, true}, {"0.01", 1, true},
		{"1000000", cloudcart.MaxMoney, true}, {"1000000.01", 0, false},
		{"12.345", 0, false}, {"-1", 0, false}, {"1e3", 0, false}, {"012", 0, false}, {"1.", 0, false},
		{".5", 0, false}, {`"12"`, 0, false}, {"", 0, false}, {"NaN", 0, false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := cloudcart.ParseMoney(tc.in)
			if (err == nil) != tc.ok || got != tc.want {
				t.Fatalf("ParseMoney(%q) = %v, %v; want %v ok=%v", tc.in, got, err, tc.want, tc.ok)
			}
			if err != nil && cloudcart.ErrorCode(err) != cloudcart.EINVALID {
				t.Fatalf("error code %q, want invalid", cloudcart.ErrorCode(err))
			}
		})
	}
}

func TestMoneyJSONRoundTrip(t *testing.T) {
	for _, m := range []cloudcart.Money{0, 1, 10, 99, 100, 2599, cloudcart.MaxMoney} {
		b, _ := json.Marshal(m)
		var back cloudcart.Money
		if err := json.Unmarshal(b, &back); err != nil || back != m {
			t.Fatalf("%d → %s → %d (%v)", m, b, back, err)
		}
	}
}

func TestOrderValidate(t *testing.T) {
	item := func(sku string, qty int, price cloudcart.Money) cloudcart.Item {
		return cloudcart.Item{SKU: sku, Qty: qty, Price: price}
	}
	many := make([]cloudcart.Item, cloudcart.MaxOrderItems+1)
	for i := range many {
		many[i] = item("S", 1, 1)
	}
	for _, tc := range []struct {
		name     string
		o        cloudcart.Order
		mentions string // "" means valid
	}{
		{"valid", cloudcart.Order{Customer: "a", Items: []cloudcart.Item{item("A-1", 2, 150), item("b_2", 1, 1)}}, ""},
		{"no customer", cloudcart.Order{Items: []cloudcart.Item{item("A", 1, 1)}}, "customer is required"},
		{"long customer", cloudcart.Order{Customer: strings.Repeat("c", 129), Items: []cloudcart.Item{item("A", 1, 1)}}, "at most 128"},
		{"no items", cloudcart.Order{Customer: "a"}, "at least one"},
		{"too many items", cloudcart.Order{Customer: "a", Items: many}, "at most 100"},
		{"empty sku", cloudcart.Order{Customer: "a", Items: []cloudcart.Item{item("", 1, 1)}}, "items[0].sku"},
		{"zero qty", cloudcart.Order{Customer: "a", Items: []cloudcart.Item{item("A", 0, 1)}}, "items[0].qty must be positive"},
		{"huge qty", cloudcart.Order{Customer: "a", Items: []cloudcart.Item{item("A", 1001, 1)}}, "at most 1000"},
		{"total overflow", cloudcart.Order{Customer: "a", Items: []cloudcart.Item{item("A", 1000, cloudcart.MaxMoney)}}, "exceeds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.o.Validate()
			if tc.mentions == "" {
				if err != nil || tc.o.Total != 301 {
					t.Fatalf("err %v total %v, want valid with total 3.01", err, tc.o.Total)
				}
				return
			}
			if cloudcart.ErrorCode(err) != cloudcart.EINVALID || !strings.Contains(cloudcart.ErrorMessage(err), tc.mentions) {
				t.Fatalf("err = %v, want invalid mentioning %q", err, tc.mentions)
			}
		})
	}
}

func TestErrorCodeAndMessage(t *testing.T) {
	wrapped := fmt.Errorf("ctx: %w", cloudcart.Errorf(cloudcart.ENOTFOUND, "order x not found"))
	if cloudcart.ErrorCode(wrapped) != cloudcart.ENOTFOUND || cloudcart.ErrorMessage(wrapped) != "order x not found" {
		t.Fatal("wrapped domain error lost its code or message")
	}
	internal := errors.New("pq: password authentication failed for user admin")
	if cloudcart.ErrorCode(internal) != cloudcart.EINTERNAL || strings.Contains(cloudcart.ErrorMessage(internal), "password") {
		t.Fatal("an infrastructure error must map to internal and never leak its text")
	}
	if cloudcart.ErrorCode(nil) != "" {
		t.Fatal("nil error has a code")
	}
}

func TestNewIDSortsByTime(t *testing.T) {
	a := cloudcart.NewID("ord", time.UnixMilli(1_700_000_000_000))
	b := cloudcart.NewID("ord", time.UnixMilli(1_700_000_000_001))
	if !(a < b) || !strings.HasPrefix(a, "ord_") || len(a) != 4+26 {
		t.Fatalf("ids %q, %q", a, b)
	}
	same := time.UnixMilli(5)
	if x, y := cloudcart.NewID("ord", same), cloudcart.NewID("ord", same); x == y {
		t.Fatal("two ids in the same millisecond collide")
	}
}
