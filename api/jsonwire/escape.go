package jsonwire

import "unicode/utf8"

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string, escaping as encoding/json does
// (HTML characters included, invalid UTF-8 replaced).
func AppendString(b []byte, s string) []byte {
	b = append(b, '"')
	b = AppendEscaped(b, s)
	return append(b, '"')
}

// AppendEscaped appends the inside of AppendString's JSON string.
func AppendEscaped(b []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		// Eight bytes at a time while none of them needs a look: most
		// strings of an answer (keys, names, ids, the base URL) have none.
		if i+8 <= len(s) && !escapes8(s[i:i+8]) {
			i += 8
			continue
		}
		for end := min(i+8, len(s)); i < end; {
			c := s[i]
			if c < utf8.RuneSelf {
				// One test for the common byte: below 0x40 a bit mask of
				// what needs escaping, above it only the backslash does.
				const escape = 1<<0x20 - 1 | 1<<'"' | 1<<'&' | 1<<'<' | 1<<'>'
				if c >= 0x40 && c != '\\' || c < 0x40 && escape>>c&1 == 0 {
					i++
					continue
				}
				b = append(b, s[start:i]...)
				switch c {
				case '"', '\\':
					b = append(b, '\\', c)
				case '\n':
					b = append(b, '\\', 'n')
				case '\r':
					b = append(b, '\\', 'r')
				case '\t':
					b = append(b, '\\', 't')
				default:
					b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
				}
				i++
				start = i
				continue
			}
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = append(b, s[start:i]...)
				b = append(b, `\ufffd`...)
				i += size
				start = i
				continue
			}
			if r == '\u2028' || r == '\u2029' {
				b = append(b, s[start:i]...)
				b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
				i += size
				start = i
				continue
			}
			i += size
		}
	}
	return append(b, s[start:]...)
}

// escapes8 reports whether any of the 8 bytes of s may need escaping:
// a control character, '"', '\\', '&', '<', '>' or a byte of a multi-byte
// UTF-8 sequence. It tests them together, as bytes of one word: a byte
// below n shows in (x - n per byte) &^ x as its top bit (a borrow may
// flag other bytes too, never hide one), and a byte equal to c is a zero
// byte of x ^ c per byte.
func escapes8(s string) bool {
	const ones, tops = 0x0101010101010101, 0x8080808080808080
	_ = s[7] // one bounds check for the eight loads, made one
	x := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
	below := func(x, n uint64) uint64 { return (x - ones*n) &^ x & tops }
	return (x&tops |
		below(x, 0x20) |
		below(x^(ones*'"'), 1) |
		below(x^(ones*'\\'), 1) |
		below(x^(ones*'&'), 1) |
		below(x^(ones*'<'), 1) |
		below(x^(ones*'>'), 1)) != 0
}
