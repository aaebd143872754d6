package main

import (
	"flag"
	"io"
	"strings"
	"testing"
)

// TestDevDefaultsRefusedOffLoopback: a server that would use a published
// development key refuses to start unless it listens on loopback or -dev
// says so (issue 16, item 4: they were applied on any address with only a
// warning, and a click token signed with the published key redirects
// anywhere).
func TestDevDefaultsRefusedOffLoopback(t *testing.T) {
	keys := map[string]string{"SPLITCAST_ADMIN_KEY": "an-admin-key-1", "SPLITCAST_SDK_KEY": "an-sdk-key-12",
		"SPLITCAST_READ_KEY": "a-read-key-12", "SPLITCAST_TOKEN_KEYS": "1:" + strings.Repeat("ab", 32)}
	for _, tc := range []struct {
		name    string
		args    []string
		env     map[string]string
		refused string // a setting the error names, or "" for accepted
	}{
		{"all interfaces, dev keys", []string{"-addr", "0.0.0.0:8080"}, nil, "SPLITCAST_ADMIN_KEY"},
		{"empty host, dev keys", []string{"-addr", ":8080"}, nil, "SPLITCAST_SDK_KEY"},
		{"public address, only the token key left", []string{"-addr", "10.1.2.3:8080"}, map[string]string{"SPLITCAST_ADMIN_KEY": "an-admin-key-1",
			"SPLITCAST_SDK_KEY": "an-sdk-key-12", "SPLITCAST_READ_KEY": "a-read-key-12"}, "SPLITCAST_TOKEN_KEYS"},
		{"all interfaces, -dev", []string{"-addr", "0.0.0.0:8080", "-dev"}, nil, ""},
		{"all interfaces, SPLITCAST_DEV", []string{"-addr", "0.0.0.0:8080"}, map[string]string{"SPLITCAST_DEV": "1"}, ""},
		{"loopback, dev keys", []string{"-addr", "127.0.0.1:8080"}, nil, ""},
		{"localhost, dev keys", []string{"-addr", "localhost:8080"}, nil, ""},
		{"IPv6 loopback, dev keys", []string{"-addr", "[::1]:8080"}, nil, ""},
		{"all interfaces, every key set", []string{"-addr", "0.0.0.0:8080"}, keys, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("serve", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			_, err := ParseConfig(fs, tc.args, func(k string) string { return tc.env[k] })
			switch {
			case tc.refused == "" && err != nil:
				t.Errorf("ParseConfig(%q) = %v, want accepted", tc.args, err)
			case tc.refused != "" && (err == nil || !strings.Contains(err.Error(), tc.refused)):
				t.Errorf("ParseConfig(%q) = %v, want an error naming %s", tc.args, err, tc.refused)
			}
		})
	}
}
