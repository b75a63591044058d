package hub

import (
	"net/http/httptest"
	"testing"
)

func TestQueryValue(t *testing.T) {
	cases := []struct{ query, want string }{
		{"id=abc", "abc"},
		{"ID=abc", "abc"},
		{"x=1&Id=abc&id=exact", "exact"},
		{"Id=first&ID=second", "first"},
		{"id=a%2Bb%3D", "a+b="},
		{"i%64=escaped", "escaped"},
		{"id=a+b", "a b"},
		{"id=%zz&ID=ok", "ok"},
		{"idx=no&xid=no", ""},
		{"", ""},
		{"id", ""},
	}
	for _, c := range cases {
		r := httptest.NewRequest("GET", "/hub?"+c.query, nil)
		if got := queryValue(r, "id"); got != c.want {
			t.Errorf("queryValue(%q) = %q, want %q", c.query, got, c.want)
		}
	}
}
