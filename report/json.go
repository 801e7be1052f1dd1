package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"strconv"
	"sync"
	"time"
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
}

// NewJSONWriter returns a writer of records of the named tool.
func NewJSONWriter(w io.Writer, tool string) *JSONWriter {
	return &JSONWriter{w: bufio.NewWriter(w), tool: tool, now: time.Now}
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
	b := j.buf[:0]
	b = append(b, `{"v":`...)
	b = strconv.AppendInt(b, JSONVersion, 10)
	b = append(b, `,"tool":`...)
	b = strconv.AppendQuote(b, j.tool)
	b = append(b, `,"type":`...)
	b = strconv.AppendQuote(b, typ)
	b = append(b, `,"time":"`...)
	b = j.now().UTC().AppendFormat(b, TimeFormat)
	b = append(b, '"')
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

// Flush writes out buffered records.
func (j *JSONWriter) Flush() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.w.Flush()
}

// TimeFormat is RFC 3339 in UTC with all nine fractional digits, so
// records sort as text.
const TimeFormat = "2006-01-02T15:04:05.000000000Z07:00"
