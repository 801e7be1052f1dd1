package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"math"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// JSONVersion is the "v" of every record; it changes only when a field
// changes meaning or disappears.
const JSONVersion = 1

// JSONWriter writes NDJSON records: one object per line, each beginning
// with "v", "tool", "type" and "time" followed by the fields of the
// record. It is safe for concurrent use.
type JSONWriter struct {
	mu   sync.Mutex
	w    *bufio.Writer
	tool string
	now  func() time.Time
	buf  []byte
	enc  bytes.Buffer
	// minute is the formatted date and time to the minute of the last
	// record's time (minuteOf it), reused while the minute lasts.
	minute   []byte
	minuteOf int64
	// heads are each record type's opening to its "time" value
	// (`{"v":1,"tool":"ping","type":"reply","time":"`), made once.
	heads map[string][]byte
}

// NewJSONWriter returns a writer of records of the named tool.
func NewJSONWriter(w io.Writer, tool string) *JSONWriter {
	return &JSONWriter{w: bufio.NewWriter(w), tool: tool, now: time.Now}
}

// NewJSONWriterSize is NewJSONWriter with a buffer of size bytes: a tool
// that writes thousands of records between its flushes (a sweep) makes
// fewer writes to a pipe with a larger one.
func NewJSONWriterSize(w io.Writer, tool string, size int) *JSONWriter {
	return &JSONWriter{w: bufio.NewWriterSize(w, size), tool: tool, now: time.Now}
}

// Write emits one record of the given type. rec must marshal to a JSON
// object; its fields follow the common ones. Records are buffered: call
// Flush before waiting, so a reader of a pipe sees them promptly.
func (j *JSONWriter) Write(typ string, rec any) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	// Not json.Marshal: it would write > as \u003e, which readers of a
	// packet summary ("a > b") should not have to undo.
	j.enc.Reset()
	e := json.NewEncoder(&j.enc)
	e.SetEscapeHTML(false)
	if err := e.Encode(rec); err != nil {
		return err
	}
	body := bytes.TrimSuffix(j.enc.Bytes(), []byte("\n"))
	b := j.head(j.buf[:0], typ)
	if len(body) > 2 { // not "{}"
		b = append(b, ',')
		b = append(b, body[1:]...)
	} else {
		b = append(b, '}')
	}
	b = append(b, '\n')
	j.buf = b
	_, err := j.w.Write(b)
	return err
}

// head appends a record's opening and its common fields.
func (j *JSONWriter) head(b []byte, typ string) []byte {
	h, ok := j.heads[typ]
	if !ok {
		h = append(h, `{"v":`...)
		h = strconv.AppendInt(h, JSONVersion, 10)
		h = append(h, `,"tool":`...)
		h = strconv.AppendQuote(h, j.tool)
		h = append(h, `,"type":`...)
		h = strconv.AppendQuote(h, typ)
		h = append(h, `,"time":"`...)
		if j.heads == nil {
			j.heads = map[string][]byte{}
		}
		j.heads[typ] = h
	}
	b = append(b, h...)
	b = j.appendTime(b, j.now())
	return append(b, '"')
}

// appendTime appends t as TimeFormat does: the part to the minute
// formatted once a minute, seconds and nanoseconds by hand.
func (j *JSONWriter) appendTime(b []byte, t time.Time) []byte {
	t = t.UTC()
	sec := t.Unix()
	if m := sec - (sec%60+60)%60; m != j.minuteOf || j.minute == nil {
		j.minute = time.Unix(m, 0).UTC().AppendFormat(j.minute[:0], "2006-01-02T15:04:")
		j.minuteOf = m
	}
	b = append(b, j.minute...)
	s := (sec%60 + 60) % 60
	b = append(b, byte('0'+s/10), byte('0'+s%10), '.')
	ns := t.Nanosecond()
	for div := 100000000; div > 0; div /= 10 {
		b = append(b, byte('0'+ns/div%10))
	}
	return append(b, 'Z')
}

// Flush writes out buffered records.
func (j *JSONWriter) Flush() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.w.Flush()
}

// TimeFormat is RFC 3339 in UTC with all nine fractional digits, so
// records sort as text.
const TimeFormat = "2006-01-02T15:04:05.000000000Z07:00"

// WriteFields emits one record of the given type whose fields are
// already encoded: fields is the object's members without the braces
// ("\"a\":1,\"b\":\"x\""), built with AppendJSONString and
// AppendJSONFloat. It is Write without reflection, for records written
// thousands of times a second.
func (j *JSONWriter) WriteFields(typ string, fields []byte) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	b := j.head(j.buf[:0], typ)
	if len(fields) > 0 {
		b = append(b, ',')
		b = append(b, fields...)
	}
	b = append(b, '}', '\n')
	j.buf = b
	_, err := j.w.Write(b)
	return err
}

// AppendJSONString appends s as encoding/json writes a string with HTML
// escaping off.
func AppendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// AppendJSONFloat appends f as encoding/json writes a float64 (finite).
func AppendJSONFloat(b []byte, f float64) []byte {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// As encoding/json: e-07 is written e-7.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}
