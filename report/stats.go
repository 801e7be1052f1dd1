package report

import (
	"math"
	"slices"
	"time"
)

// RTTStats accumulates round-trip times. The zero value is empty and
// ready to use. Min, max, mean, mdev and jitter are exact for any number
// of samples; percentiles are exact for the first MaxExactSamples and,
// beyond, read from a log-scale histogram with buckets 1/64 of an octave
// wide (about 1% error), so a flood running for hours uses bounded memory.
type RTTStats struct {
	// samples is the chunk being filled, full the chunks filled before
	// it: a long flood's samples are not copied as they grow, and the
	// memory they take is touched once (a page fault each 4 KiB).
	samples    []time.Duration
	full       [][]time.Duration
	n          int
	sum, sum2  float64 // ms, ms²
	jit        float64 // sum of |consecutive differences|, ms
	last       time.Duration
	lo, hi     time.Duration
	histogram  []uint32
	overflowed bool
	// basicOnly: no samples kept (WithoutPercentiles).
	basicOnly bool
}

// WithoutPercentiles stops s keeping samples: Summary then gives what
// Basic does. For a run whose output prints no percentile (iputils'
// min/avg/max/mdev), so a long flood's memory stays what it was at start.
func (s *RTTStats) WithoutPercentiles() { s.basicOnly = true }

// MaxExactSamples is how many samples RTTStats keeps for exact percentiles.
const MaxExactSamples = 1 << 17

// sampleChunk is the length at which a chunk of samples is full.
const sampleChunk = 4096

const bucketsPerOctave = 64

// Add records one round-trip time.
func (s *RTTStats) Add(d time.Duration) {
	d = max(d, 0)
	v := Millis(d)
	if s.n > 0 {
		s.jit += math.Abs(v - Millis(s.last))
		s.lo, s.hi = min(s.lo, d), max(s.hi, d)
	} else {
		s.lo, s.hi = d, d
	}
	s.n++
	s.sum += v
	s.sum2 += v * v
	s.last = d
	if s.basicOnly {
		return
	}
	if !s.overflowed && s.n <= MaxExactSamples {
		if len(s.samples) >= sampleChunk {
			s.full = append(s.full, s.samples)
			s.samples = make([]time.Duration, 0, sampleChunk)
		}
		s.samples = append(s.samples, d)
		return
	}
	if !s.overflowed {
		s.overflowed = true
		for _, c := range append(s.full, s.samples) {
			for _, x := range c {
				s.bucket(x)
			}
		}
		s.samples, s.full = nil, nil
	}
	s.bucket(d)
}

func bucketOf(d time.Duration) int {
	if d < 1 {
		return 0
	}
	return 1 + int(math.Log2(float64(d))*bucketsPerOctave)
}

func bucketValue(i int) time.Duration {
	if i == 0 {
		return 0
	}
	// The geometric middle of the bucket.
	return time.Duration(math.Exp2((float64(i-1) + 0.5) / bucketsPerOctave))
}

func (s *RTTStats) bucket(d time.Duration) {
	i := bucketOf(d)
	if i >= len(s.histogram) {
		s.histogram = append(s.histogram, make([]uint32, i+1-len(s.histogram))...)
	}
	s.histogram[i]++
}

// Count returns the number of samples.
func (s *RTTStats) Count() int { return s.n }

// MinAvgMax is the least, mean and greatest round trip in milliseconds,
// without Summary's percentiles (a sort of the samples).
func (s *RTTStats) MinAvgMax() (lo, avg, hi float64) {
	if s.n == 0 {
		return 0, 0, 0
	}
	return Millis(s.lo), s.sum / float64(s.n), Millis(s.hi)
}

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
	out := s.Basic()
	if s.n == 0 || s.basicOnly {
		return out
	}
	if s.n == 1 {
		// One sample is every percentile (a sweep's thousands of
		// targets, a probe each).
		out.P50, out.P90, out.P99 = out.Min, out.Min, out.Min
		return out
	}
	if s.overflowed {
		out.P50, out.P90, out.P99 = s.histPercentile(50), s.histPercentile(90), s.histPercentile(99)
	} else {
		sorted := make([]time.Duration, 0, s.n)
		for _, c := range s.full {
			sorted = append(sorted, c...)
		}
		sorted = append(sorted, s.samples...)
		slices.Sort(sorted)
		out.P50 = Millis(percentile(sorted, 50))
		out.P90 = Millis(percentile(sorted, 90))
		out.P99 = Millis(percentile(sorted, 99))
	}
	return out
}

// Basic is Summary without its percentiles, which sort the samples: what
// iputils' and fping's summaries print.
func (s *RTTStats) Basic() Summary {
	n := s.n
	if n == 0 {
		return Summary{}
	}
	avg := s.sum / float64(n)
	out := Summary{
		Min:  Millis(s.lo),
		Avg:  avg,
		Max:  Millis(s.hi),
		Mdev: math.Sqrt(math.Max(0, s.sum2/float64(n)-avg*avg)),
	}
	if n > 1 {
		out.Jitter = s.jit / float64(n-1)
	}
	return out
}

// histPercentile is the nearest-rank percentile read from the histogram,
// kept within the exact minimum and maximum.
func (s *RTTStats) histPercentile(p float64) float64 {
	rank := max(int(math.Ceil(p/100*float64(s.n))), 1)
	seen := 0
	for i, c := range s.histogram {
		seen += int(c)
		if seen >= rank {
			return Millis(min(max(bucketValue(i), s.lo), s.hi))
		}
	}
	return Millis(s.hi)
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
