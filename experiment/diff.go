package experiment

import (
	"bytes"
	"encoding/json"
	"sort"
	"strconv"
)

// Change is one difference between two versions of an experiment: the field
// as a JSON path in the style of validation errors
// ("segments[0].variants[2].retired"), and its old and new JSON values
// (absent when the field did not exist on that side).
type Change struct {
	Field string          `json:"field"`
	Old   json.RawMessage `json:"old,omitempty"`
	New   json.RawMessage `json:"new,omitempty"`
}

// Diff returns what changed from old to new, for the history page, in a
// stable order (fields in sorted order, lists by index). The version number
// and updated_at, which change every time, are left out. Payloads are
// compared field by field, so an edited subject line shows as
// "segments[0].variants[1].payload.subject".
func Diff(old, new Experiment) []Change {
	a, b := generic(old), generic(new)
	var out []Change
	walkDiff("", a, b, &out)
	return out
}

func generic(e Experiment) any {
	data, err := json.Marshal(e)
	if err != nil {
		// A payload that is not valid JSON cannot be diffed field by field;
		// compare the definitions without payloads rather than fail the
		// history page.
		c := e.Clone()
		for i := range c.Segments {
			for j := range c.Segments[i].Variants {
				c.Segments[i].Variants[j].Payload = nil
			}
		}
		data, _ = json.Marshal(c)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // keep numbers exactly as written
	var v any
	_ = dec.Decode(&v)
	if m, ok := v.(map[string]any); ok {
		delete(m, "version")
		delete(m, "updated_at")
	}
	return v
}

func walkDiff(path string, a, b any, out *[]Change) {
	switch av := a.(type) {
	case map[string]any:
		bv, ok := b.(map[string]any)
		if !ok {
			break
		}
		keys := make([]string, 0, len(av)+len(bv))
		for k := range av {
			keys = append(keys, k)
		}
		for k := range bv {
			if _, dup := av[k]; !dup {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := k
			if path != "" {
				p = path + "." + k
			}
			x, inA := av[k]
			y, inB := bv[k]
			switch {
			case !inA:
				*out = append(*out, Change{Field: p, New: raw(y)})
			case !inB:
				*out = append(*out, Change{Field: p, Old: raw(x)})
			default:
				walkDiff(p, x, y, out)
			}
		}
		return
	case []any:
		bv, ok := b.([]any)
		if !ok {
			break
		}
		for i := 0; i < len(av) || i < len(bv); i++ {
			p := path + "[" + strconv.Itoa(i) + "]"
			switch {
			case i >= len(av):
				*out = append(*out, Change{Field: p, New: raw(bv[i])})
			case i >= len(bv):
				*out = append(*out, Change{Field: p, Old: raw(av[i])})
			default:
				walkDiff(p, av[i], bv[i], out)
			}
		}
		return
	}
	ra, rb := raw(a), raw(b)
	if !bytes.Equal(ra, rb) {
		*out = append(*out, Change{Field: path, Old: ra, New: rb})
	}
}

func raw(v any) json.RawMessage {
	data, _ := json.Marshal(v)
	return data
}
