package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"

	"github.com/splitcast/splitcast/experiment"
)

// decodeJSON decodes one JSON object strictly: unknown fields and trailing
// data are refused, and every error names the field it is about.
func decodeJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return experiment.Invalid("body", "want one JSON object, found more after it")
	}
	return nil
}

func jsonError(err error) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "body"
		}
		return experiment.Invalid(field, "want %s, got JSON %s", te.Type, te.Value)
	case errors.As(err, &se):
		return experiment.Invalid("body", "malformed JSON at byte %d: %v", se.Offset, err)
	case errors.Is(err, io.EOF):
		return experiment.Invalid("body", "empty body: want a JSON object")
	}
	msg := err.Error()
	if f, ok := bytes.CutPrefix([]byte(msg), []byte("json: unknown field ")); ok {
		if name := string(bytes.Trim(f, `"`)); name != "" {
			return experiment.Invalid(name, "unknown field")
		}
		return experiment.Invalid("body", "unknown field with an empty name")
	}
	return experiment.Invalid("body", "%v", err)
}
