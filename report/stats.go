package report

import (
	"math"
	"slices"
	"time"
)

// RTTStats accumulates round-trip times. The zero value is empty and
// ready to use.
type RTTStats struct {
	samples []time.Duration
}

// Add records one round-trip time.
func (s *RTTStats) Add(d time.Duration) { s.samples = append(s.samples, d) }

// Count returns the number of samples.
func (s *RTTStats) Count() int { return len(s.samples) }

// Summary is the statistics of a set of round-trip times, in milliseconds.
type Summary struct {
	Min    float64 `json:"min"`
	Avg    float64 `json:"avg"`
	Max    float64 `json:"max"`
	Mdev   float64 `json:"mdev"`
	P50    float64 `json:"p50"`
	P90    float64 `json:"p90"`
	P99    float64 `json:"p99"`
	Jitter float64 `json:"jitter"`
}

// Summary computes the statistics; all zero when there are no samples.
//
// mdev is what iputils ping prints: the population standard deviation
// sqrt(mean(rtt²) − mean(rtt)²). Percentiles use the nearest-rank method.
// Jitter is the mean absolute difference between consecutive samples in
// arrival order (the smoothing-free form of RFC 3550's interarrival jitter).
func (s *RTTStats) Summary() Summary {
	n := len(s.samples)
	if n == 0 {
		return Summary{}
	}
	var sum, sum2, jit float64
	for i, d := range s.samples {
		v := Millis(d)
		sum += v
		sum2 += v * v
		if i > 0 {
			jit += math.Abs(v - Millis(s.samples[i-1]))
		}
	}
	avg := sum / float64(n)
	sorted := slices.Clone(s.samples)
	slices.Sort(sorted)
	out := Summary{
		Min:  Millis(sorted[0]),
		Avg:  avg,
		Max:  Millis(sorted[n-1]),
		Mdev: math.Sqrt(math.Max(0, sum2/float64(n)-avg*avg)),
		P50:  Millis(percentile(sorted, 50)),
		P90:  Millis(percentile(sorted, 90)),
		P99:  Millis(percentile(sorted, 99)),
	}
	if n > 1 {
		out.Jitter = jit / float64(n-1)
	}
	return out
}

// percentile returns the nearest-rank p-th percentile of sorted samples.
func percentile(sorted []time.Duration, p float64) time.Duration {
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = max(rank, 1)
	return sorted[rank-1]
}

// Millis converts a duration to float milliseconds, the unit of every
// *_ms field.
func Millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
