package main

import (
	"slices"
	"strings"
	"testing"
)

func TestTrustedProxiesConfig(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    []string
		wantErr string
	}{
		{name: "none"},
		{name: "flag", args: []string{"--trusted-proxies", " 10.0.0.0/8, 127.0.0.1 ,"}, want: []string{"10.0.0.0/8", "127.0.0.1"}},
		{name: "env", env: map[string]string{"HUBBUB_TRUSTED_PROXIES": "fd00::/8"}, want: []string{"fd00::/8"}},
		{name: "flag wins over env", args: []string{"--trusted-proxies=::1"}, env: map[string]string{"HUBBUB_TRUSTED_PROXIES": "10.0.0.0/8"}, want: []string{"::1"}},
		{name: "bad CIDR refuses to start", args: []string{"--trusted-proxies", "10.0.0.0/8,10.0.0.0/33"},
			wantErr: `--trusted-proxies: hub: TrustedProxies: "10.0.0.0/33" is not a CIDR like 10.0.0.0/8`},
		{name: "host name refuses to start", env: map[string]string{"HUBBUB_TRUSTED_PROXIES": "proxy.internal"},
			wantErr: `"proxy.internal" is not an IP address or a CIDR`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parseConfig(tc.args, func(name string) string { return tc.env[name] })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(cfg.trustedProxies, tc.want) {
				t.Errorf("trustedProxies = %q, want %q", cfg.trustedProxies, tc.want)
			}
			if got := cfg.hubOptions("h", nil, nil).TrustedProxies; !slices.Equal(got, tc.want) {
				t.Errorf("hub options TrustedProxies = %q, want %q", got, tc.want)
			}
		})
	}
}
