package experiment

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
)

// Decode reads one experiment definition from JSON as a person wrote it,
// refusing unknown fields (a misspelt "holdot" must not pass silently) and
// turning every decoding problem into an EINVALID *Error: a wrong type names
// its field (as encoding/json spells the path, e.g. "segments.variants.weight"),
// an unknown field names itself, and anything else is on field "body". It
// does not validate: call Validate, or Create, which does.
func Decode(data []byte) (Experiment, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	// Decode into the plain type: Experiment.UnmarshalJSON would start a
	// fresh decoder that lets unknown fields through.
	p := plainExperiment{Allocation: Full}
	if err := dec.Decode(&p); err != nil {
		return Experiment{}, decodeError(err)
	}
	if dec.More() {
		return Experiment{}, Invalid("body", "want one JSON object, found more after it")
	}
	return Experiment(p), nil
}

func decodeError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return Invalid(te.Field, "want %s, got a JSON %s", jsonKind(te.Type.Kind().String()), te.Value)
	}
	const unknown = "json: unknown field "
	if msg := err.Error(); strings.HasPrefix(msg, unknown) {
		name := strings.Trim(msg[len(unknown):], `"`)
		if name == "" {
			// {"": 1}: there is no name to point at.
			return Invalid("body", "unknown field with an empty name")
		}
		return Invalid(name, "unknown field")
	}
	return Invalid("body", "%s", strings.TrimPrefix(err.Error(), "json: "))
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "slice", "array":
		return "a list"
	case "struct", "map", "ptr":
		return "an object"
	}
	return "a number"
}
