package analytics

import (
	"strings"
	"testing"
)

func TestExposureDims(t *testing.T) {
	attrs := map[string]any{"country": "FR", "age": 42.0, "vip": true, "tags": []any{"x"}, "odd": "a\x1fb\x1ec",
		"long": strings.Repeat("é", 40)}
	lookup := func(k string) (any, bool) { v, ok := attrs[k]; return v, ok }
	got := ExposureDims([]string{"country", "channel", "age", "vip", "tags", "missing", "odd", "long"}, lookup, "push")
	keys, values := DecodeDims(got)
	wantKeys := []string{"country", "channel", "age", "vip", "odd", "long"}
	wantValues := []string{"FR", "push", "42", "true", "a b c", strings.Repeat("é", 32)}
	if strings.Join(keys, ",") != strings.Join(wantKeys, ",") || strings.Join(values, ",") != strings.Join(wantValues, ",") {
		t.Errorf("ExposureDims = %q %q, want %q %q", keys, values, wantKeys, wantValues)
	}
	if k, v := DecodeDims(""); k != nil || v != nil {
		t.Errorf("DecodeDims(\"\") = %q, %q", k, v)
	}
	if ExposureDims(nil, lookup, "email") != "" {
		t.Error("no dimensions should store nothing")
	}
}
