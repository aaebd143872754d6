package experiment

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"unicode/utf8"
)

// Decode reads one experiment definition from JSON as a person wrote it,
// strictly as DecodeStrict reads any request. It does not validate: call
// Validate, or Create, which does.
func Decode(data []byte) (Experiment, error) {
	// Decode into the plain type: Experiment.UnmarshalJSON would start a
	// fresh decoder that lets unknown fields through.
	p := plainExperiment{Allocation: Full}
	if err := DecodeStrict(data, &p); err != nil {
		return Experiment{}, err
	}
	return Experiment(p), nil
}

// DecodeStrict decodes one JSON object into v, refusing unknown fields (a
// misspelt "holdot" must not pass silently) and trailing data, and turns
// every decoding problem into an EINVALID *Error: a wrong type names its
// field (as encoding/json spells the path, e.g.
// "segments.variants.weight"), an unknown field names itself, and anything
// else (malformed or empty JSON) is on field "body". It is the one strict
// decoder of request bodies, so that every endpoint words its errors alike.
// A body that is not valid UTF-8 is refused: encoding/json would replace
// the bad bytes, and two distinct ids would then become one.
func DecodeStrict(data []byte, v any) error {
	if !utf8.Valid(data) {
		return Invalid("body", "not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Invalid("body", "want one JSON object, found more after it")
	}
	return nil
}

func decodeError(err error) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "body"
		}
		return Invalid(field, "want %s, got a JSON %s", jsonKind(te.Type.Kind().String()), te.Value)
	case errors.As(err, &se):
		return Invalid("body", "malformed JSON at byte %d: %s", se.Offset, strings.TrimPrefix(err.Error(), "json: "))
	case errors.Is(err, io.EOF):
		return Invalid("body", "empty body: want a JSON object")
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
