package ingest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"time"

	"github.com/splitcast/splitcast/analytics"
)

// batchFormat is the first byte of every record payload, so that a later
// encoding can be told apart from this one. Format 2 added Props, format 3
// Dims after them; records of formats 1 and 2, written before, still
// decode (with no Props, no Dims).
const (
	batchFormat   = 3
	batchFormatV2 = 2
	batchFormatV1 = 1
)

// appendRecord appends the spool record for events to b: the length and
// CRC32C header followed by the payload from appendBatch.
func appendRecord(b []byte, events []analytics.Event) []byte {
	start := len(b)
	b = append(b, make([]byte, recHeaderLen)...)
	b = appendBatch(b, events)
	payload := b[start+recHeaderLen:]
	binary.LittleEndian.PutUint32(b[start:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(b[start+4:], crc32.Checksum(payload, castagnoli))
	return b
}

// appendBatch appends the compact binary encoding of events to b:
//
//	byte     format (1)
//	uvarint  number of events
//	per event, in field order, strings as uvarint length + bytes:
//	  ID, Kind,
//	  Time as varint Unix seconds + uvarint nanoseconds (decoded in UTC),
//	  Experiment, uvarint Version, Segment, Variant, Unit, SendID, Channel,
//	  Name, Value as 8 bytes little-endian IEEE 754 bits, URL,
//	  Machine as one byte 0 or 1, MachineReason,
//	  Props (formats 2 and 3), Dims (format 3).
//
// Hand-written rather than gob or JSON: it is several times smaller and
// faster, has no per-stream type header, and keeps every float bit
// (NaN payloads, -0) and every nanosecond.
func appendBatch(b []byte, events []analytics.Event) []byte {
	b = append(b, batchFormat)
	b = binary.AppendUvarint(b, uint64(len(events)))
	for i := range events {
		e := &events[i]
		b = appendString(b, e.ID)
		b = appendString(b, string(e.Kind))
		b = binary.AppendVarint(b, e.Time.Unix())
		b = binary.AppendUvarint(b, uint64(e.Time.Nanosecond()))
		b = appendString(b, e.Experiment)
		b = binary.AppendUvarint(b, uint64(e.Version))
		b = appendString(b, e.Segment)
		b = appendString(b, e.Variant)
		b = appendString(b, e.Unit)
		b = appendString(b, e.SendID)
		b = appendString(b, e.Channel)
		b = appendString(b, e.Name)
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(e.Value))
		b = appendString(b, e.URL)
		machine := byte(0)
		if e.Machine {
			machine = 1
		}
		b = append(b, machine)
		b = appendString(b, e.MachineReason)
		b = appendString(b, e.Props)
		b = appendString(b, e.Dims)
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// minEventLen is the smallest encoding of an event (of format 1; format 2
// adds a byte): eleven empty strings,
// one-byte seconds, nanoseconds and version, eight bytes of Value and the
// Machine byte. It bounds the count a payload can claim.
const minEventLen = 11 + 3 + 8 + 1

var errTruncated = errors.New("truncated batch")

// decodeBatch decodes a payload written by appendBatch. It never panics,
// whatever the input. All strings of the batch share one allocation.
func decodeBatch(payload []byte) ([]analytics.Event, error) {
	d := decoder{s: string(payload)}
	f := d.byte()
	if d.err == nil && f != batchFormat && f != batchFormatV2 && f != batchFormatV1 {
		return nil, fmt.Errorf("unknown batch format %d", f)
	}
	n := d.uvarint()
	if d.err != nil {
		return nil, d.err
	}
	if n > uint64(len(d.s)-d.off)/minEventLen {
		return nil, fmt.Errorf("batch claims %d events in %d bytes", n, len(d.s))
	}
	events := make([]analytics.Event, n)
	for i := range events {
		e := &events[i]
		e.ID = d.str()
		e.Kind = analytics.Kind(d.str())
		sec := d.varint()
		nsec := d.uvarint()
		if nsec >= 1e9 {
			d.fail(fmt.Errorf("nanoseconds %d out of range", nsec))
		}
		e.Time = time.Unix(sec, int64(nsec)).UTC()
		e.Experiment = d.str()
		v := d.uvarint()
		if v > math.MaxUint32 {
			d.fail(fmt.Errorf("version %d out of range", v))
		}
		e.Version = uint32(v)
		e.Segment = d.str()
		e.Variant = d.str()
		e.Unit = d.str()
		e.SendID = d.str()
		e.Channel = d.str()
		e.Name = d.str()
		e.Value = math.Float64frombits(d.uint64())
		e.URL = d.str()
		switch d.byte() {
		case 0:
		case 1:
			e.Machine = true
		default:
			d.fail(errors.New("bad Machine flag"))
		}
		e.MachineReason = d.str()
		if f >= batchFormatV2 {
			e.Props = d.str()
		}
		if f >= batchFormat {
			e.Dims = d.str()
		}
		if d.err != nil {
			return nil, fmt.Errorf("event %d: %w", i, d.err)
		}
	}
	if d.off != len(d.s) {
		return nil, fmt.Errorf("%d bytes after the last event", len(d.s)-d.off)
	}
	return events, nil
}

// decoder reads from s; after the first error every read returns a zero
// value, so callers check err once per event.
type decoder struct {
	s   string
	off int
	err error
}

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

func (d *decoder) byte() byte {
	if d.err != nil || d.off >= len(d.s) {
		d.fail(errTruncated)
		return 0
	}
	c := d.s[d.off]
	d.off++
	return c
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	var x uint64
	var shift uint
	for i := 0; ; i++ {
		if d.off >= len(d.s) {
			d.fail(errTruncated)
			return 0
		}
		c := d.s[d.off]
		d.off++
		if i == binary.MaxVarintLen64-1 && c > 1 {
			d.fail(errors.New("varint overflows 64 bits"))
			return 0
		}
		if c < 0x80 {
			return x | uint64(c)<<shift
		}
		x |= uint64(c&0x7f) << shift
		shift += 7
	}
}

func (d *decoder) varint() int64 {
	ux := d.uvarint()
	x := int64(ux >> 1)
	if ux&1 != 0 {
		x = ^x
	}
	return x
}

func (d *decoder) uint64() uint64 {
	if d.err != nil || len(d.s)-d.off < 8 {
		d.fail(errTruncated)
		return 0
	}
	// Little-endian, matching binary.LittleEndian.AppendUint64.
	var x uint64
	for i := 7; i >= 0; i-- {
		x = x<<8 | uint64(d.s[d.off+i])
	}
	d.off += 8
	return x
}

func (d *decoder) str() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.s)-d.off) {
		d.fail(errTruncated)
		return ""
	}
	s := d.s[d.off : d.off+int(n)]
	d.off += int(n)
	return s
}
