package report

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// MetricKind says what unit a metric is measured in, and so which
// suffixes an --expect may use for it.
type MetricKind int

// Metric kinds.
const (
	Count    MetricKind = iota // a plain number: received>=3
	Percent                    // 0–100, suffix % optional: loss<1%
	Duration                   // milliseconds; suffix us, µs, ms or s: p99<20ms
	Flag                       // true or false, written bare: reached
)

// Metric is one quantity a tool offers to --expect.
type Metric struct {
	Name string
	Kind MetricKind
	Help string
}

// Expect is one parsed --expect assertion, such as "loss<1%".
type Expect struct {
	Text   string // as the user wrote it
	Metric Metric
	Op     string  // <, <=, >, >=, ==, != ; "" for a bare flag
	Value  float64 // in the metric's unit (ms for durations)
}

var ops = []string{"<=", ">=", "==", "!=", "<", ">", "="}

// ParseExpect parses an assertion against the tool's metrics. An unknown
// metric or a malformed value is a usage error naming what is accepted.
func ParseExpect(text string, metrics []Metric) (Expect, error) {
	s := strings.ReplaceAll(text, " ", "")
	e := Expect{Text: text}
	name, rest := s, ""
	for i := 0; i < len(s); i++ {
		if strings.ContainsRune("<>=!", rune(s[i])) {
			name, rest = s[:i], s[i:]
			break
		}
	}
	var found bool
	for _, m := range metrics {
		if strings.EqualFold(m.Name, name) {
			e.Metric, found = m, true
		}
	}
	if !found {
		names := make([]string, len(metrics))
		for i, m := range metrics {
			names[i] = m.Name
		}
		return e, Usagef("--expect %q: unknown metric %q (known: %s)", text, name, strings.Join(names, ", "))
	}
	if rest == "" {
		if e.Metric.Kind != Flag {
			return e, Usagef("--expect %q: %s needs a comparison, such as %s<10", text, name, name)
		}
		e.Op, e.Value = "==", 1
		return e, nil
	}
	for _, op := range ops {
		if strings.HasPrefix(rest, op) {
			e.Op, rest = op, rest[len(op):]
			break
		}
	}
	if e.Op == "" {
		return e, Usagef("--expect %q: no comparison operator (use < <= > >= == !=)", text)
	}
	if e.Op == "=" {
		e.Op = "=="
	}
	v, err := parseValue(rest, e.Metric.Kind)
	if err != nil {
		return e, Usagef("--expect %q: %v", text, err)
	}
	e.Value = v
	return e, nil
}

func parseValue(s string, kind MetricKind) (float64, error) {
	switch kind {
	case Percent:
		s = strings.TrimSuffix(s, "%")
	case Duration:
		if strings.HasSuffix(s, "s") && !strings.ContainsAny(s[len(s)-1:], "0123456789") {
			d, err := time.ParseDuration(strings.ReplaceAll(s, "µs", "us"))
			if err != nil {
				return 0, fmt.Errorf("bad duration %q (use e.g. 20ms, 500us, 1.5s)", s)
			}
			return Millis(d), nil
		}
	case Flag:
		switch strings.ToLower(s) {
		case "true", "1":
			return 1, nil
		case "false", "0":
			return 0, nil
		}
		return 0, fmt.Errorf("bad value %q (use true or false)", s)
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("bad number %q", s)
	}
	return v, nil
}

// ParseExpects parses each of texts, as ParseExpect does; the first bad
// one is the error.
func ParseExpects(texts []string, metrics []Metric) ([]Expect, error) {
	var out []Expect
	for _, text := range texts {
		e, err := ParseExpect(text, metrics)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// Check evaluates the assertion against the measured value.
func (e Expect) Check(got float64) bool {
	switch e.Op {
	case "<":
		return got < e.Value
	case "<=":
		return got <= e.Value
	case ">":
		return got > e.Value
	case ">=":
		return got >= e.Value
	case "==":
		return got == e.Value
	case "!=":
		return got != e.Value
	}
	return false
}

// Failure describes a failed assertion for stderr, with the measured value.
func (e Expect) Failure(got float64) string {
	var v string
	switch e.Metric.Kind {
	case Percent:
		v = strconv.FormatFloat(got, 'f', -1, 64) + "%"
	case Duration:
		v = strconv.FormatFloat(got, 'f', 3, 64) + "ms"
	case Flag:
		v = strconv.FormatBool(got != 0)
	default:
		v = strconv.FormatFloat(got, 'f', -1, 64)
	}
	return fmt.Sprintf("expect %s failed: %s is %s", e.Text, e.Metric.Name, v)
}

// MetricsHelp lists metrics for a --expect flag's usage text.
func MetricsHelp(metrics []Metric) string {
	var b strings.Builder
	for i, m := range metrics {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(m.Name)
	}
	return b.String()
}
