package cloudcart

import (
	"bytes"
	"strconv"
	"strings"
)

// Money is an amount in US cents. Prices never travel as floats inside
// CloudCart; on the wire Money is a JSON number with at most two decimals.
type Money int64

// MaxMoney bounds any single amount (one million dollars).
const MaxMoney Money = 100_000_000

// Dollars returns m as a float for metrics (orders_value_total).
func (m Money) Dollars() float64 { return float64(m) / 100 }

func (m Money) String() string {
	sign := ""
	if m < 0 {
		sign, m = "-", -m
	}
	return sign + strconv.FormatInt(int64(m/100), 10) + "." + leftPad2(int64(m%100))
}

func leftPad2(v int64) string {
	if v < 10 {
		return "0" + strconv.FormatInt(v, 10)
	}
	return strconv.FormatInt(v, 10)
}

func (m Money) MarshalJSON() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalJSON accepts a JSON number with at most two decimals, such as
// 12, 12.5 or 12.34. Anything else (strings, exponents, fractions of a
// cent, negative or oversized amounts) is an EINVALID error.
func (m *Money) UnmarshalJSON(b []byte) error {
	s := string(bytes.TrimSpace(b))
	v, err := ParseMoney(s)
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// ParseMoney parses a decimal string into Money exactly.
func ParseMoney(s string) (Money, error) {
	bad := Errorf(EINVALID, "price %q must be a non-negative number with at most two decimals", truncate(s, 32))
	whole, frac, hasFrac := strings.Cut(s, ".")
	if whole == "" || len(whole) > 9 || !digits(whole) || (len(whole) > 1 && whole[0] == '0') {
		return 0, bad
	}
	if hasFrac && (len(frac) == 0 || len(frac) > 2 || !digits(frac)) {
		return 0, bad
	}
	w, _ := strconv.ParseInt(whole, 10, 64)
	c := int64(0)
	if hasFrac {
		c, _ = strconv.ParseInt(frac, 10, 64)
		if len(frac) == 1 {
			c *= 10
		}
	}
	v := Money(w*100 + c)
	if v > MaxMoney {
		return 0, Errorf(EINVALID, "price %s exceeds the maximum of %s", v, MaxMoney)
	}
	return v, nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
