package jsonwire

import (
	"strconv"

	"github.com/splitcast/splitcast/assign"
)

// AppendAssignment appends the fields of r (without the braces around
// them) as encoding/json writes an assign.Assignment: same names, same
// order, same omissions. An answer writes its own fields after them.
func AppendAssignment(b []byte, r *assign.Assignment) []byte {
	b = append(b, `"experiment":`...)
	b = AppendString(b, r.Experiment)
	b = append(b, `,"version":`...)
	b = strconv.AppendUint(b, uint64(r.Version), 10)
	if r.Segment != "" {
		b = append(b, `,"segment":`...)
		b = AppendString(b, r.Segment)
	}
	if r.Variant != "" {
		b = append(b, `,"variant":`...)
		b = AppendString(b, r.Variant)
	}
	b = append(b, `,"in_experiment":`...)
	b = strconv.AppendBool(b, r.InExperiment)
	b = append(b, `,"holdout":`...)
	b = strconv.AppendBool(b, r.Holdout)
	b = append(b, `,"reason":`...)
	b = AppendString(b, string(r.Reason))
	bk := r.Buckets
	b = append(b, `,"buckets":{"layer":`...)
	b = strconv.AppendInt(b, int64(bk.Layer), 10)
	b = append(b, `,"allocation":`...)
	b = strconv.AppendInt(b, int64(bk.Allocation), 10)
	b = append(b, `,"holdout":`...)
	b = strconv.AppendInt(b, int64(bk.Holdout), 10)
	b = append(b, `,"variant":`...)
	b = strconv.AppendInt(b, int64(bk.Variant), 10)
	b = append(b, `,"reroute":`...)
	b = strconv.AppendInt(b, int64(bk.Reroute), 10)
	b = append(b, `,"reroutes":`...)
	b = strconv.AppendInt(b, int64(bk.Reroutes), 10)
	b = append(b, '}')
	if len(r.Payload) > 0 {
		// The payload was validated as JSON when the experiment was saved;
		// it is copied as it is rather than re-compacted for every unit.
		b = append(b, `,"payload":`...)
		b = append(b, r.Payload...)
	}
	return b
}
