package transports

import "testing"

func TestSameOriginAs(t *testing.T) {
	tests := []struct {
		origin, scheme, host string
		want                 bool
	}{
		{"http://backend:8080", "", "backend:8080", true},
		{"http://Backend:8080", "", "backend:8080", true},
		{"https://backend:8080", "", "backend:8080", true}, // no scheme known: host only
		{"https://app.example.com", "http", "app.example.com", false},
		{"https://app.example.com", "https", "app.example.com", true},
		{"https://app.example.com", "https", "app.example.com:443", true},
		{"http://app.example.com:80", "", "app.example.com", true},
		{"http://app.example.com", "", "app.example.com:443", false},
		{"http://app.example.com", "", "app.example.com:8080", false},
		{"app.example.com", "", "app.example.com", false},
		{"null", "", "app.example.com", false},
		{"http://", "", "", false},
	}
	for _, tc := range tests {
		if got := SameOriginAs(tc.origin, tc.scheme, tc.host); got != tc.want {
			t.Errorf("SameOriginAs(%q, %q, %q) = %v, want %v", tc.origin, tc.scheme, tc.host, got, tc.want)
		}
	}
}
