package report

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// The fast path writes strings and floats byte for byte as encoding/json
// does (HTML escaping off).
func TestAppendJSONLikeEncodingJSON(t *testing.T) {
	strs := []string{"", "198.18.1.2", "host-1.example", `a"b\c`, "tab\there\nnl\rcr", "\x00\x01\x1f\x7f", "a<b>&c",
		"caf\u00e9", "\u2028\u2029", "bad\xffutf8", "\xe2\x82", "emoji \U0001F600"}
	for _, s := range strs {
		var want bytes.Buffer
		e := json.NewEncoder(&want)
		e.SetEscapeHTML(false)
		e.Encode(s)
		if got := string(AppendJSONString(nil, s)); got != strings.TrimSuffix(want.String(), "\n") {
			t.Errorf("%q: %s, encoding/json %s", s, got, want.String())
		}
	}
	floats := []float64{0, 1, -1, 0.001, 0.0123456789, 1e-6, 9.99e-7, 1.5e-9, 123456.789, 1e20, 1e21, 1.234e22, -3.5e-8}
	r := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		floats = append(floats, r.Float64()*math.Pow(10, float64(r.IntN(30)-12)))
	}
	for _, f := range floats {
		want, _ := json.Marshal(f)
		if got := string(AppendJSONFloat(nil, f)); got != string(want) {
			t.Errorf("%v: %s, encoding/json %s", f, got, want)
		}
	}
}

// Record times are TimeFormat's, across minutes, leap days and before
// 1970.
func TestRecordTimeLikeTimeFormat(t *testing.T) {
	j := NewJSONWriter(&bytes.Buffer{}, "x")
	r := rand.New(rand.NewPCG(5, 6))
	times := []time.Time{time.Unix(0, 0), time.Unix(-1, 999999999), time.Date(2028, 2, 29, 23, 59, 59, 999999999, time.UTC),
		time.Date(2026, 12, 1, 15, 4, 5, 7, time.FixedZone("x", 3600))}
	for range 2000 {
		times = append(times, time.Unix(r.Int64N(4e9)-1e9, r.Int64N(1e9)))
	}
	base := time.Now()
	for i := range 200 { // consecutive records, a minute boundary among them
		times = append(times, base.Add(time.Duration(i)*317*time.Millisecond))
	}
	for _, tm := range times {
		if got, want := string(j.appendTime(nil, tm)), tm.UTC().Format(TimeFormat); got != want {
			t.Errorf("%v: %s, want %s", tm, got, want)
		}
	}
}
