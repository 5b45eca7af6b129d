package password

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"time"

	"golang.org/x/crypto/argon2"
)

// CalibrateConfig tunes [Calibrate]. The zero value aims at 250 ms per hash
// with 64 MiB and 4 lanes.
type CalibrateConfig struct {
	// Target is the wanted time for one hash. Default 250 ms: slow enough
	// to cost an attacker, fast enough for a login. Remember that
	// HasherConfig.MaxConcurrent hashes share the CPU.
	Target time.Duration

	// Memory is the memory per hash, in KiB, that the host can spare.
	// Default DefaultParams().Memory (64 MiB). Calibrate spends time
	// first and lowers memory only if one pass already exceeds Target.
	Memory uint32

	// Threads is the number of lanes. Default DefaultParams().Threads.
	Threads uint8

	// MaxTime caps the number of passes. Default 16.
	MaxTime uint32

	// Samples is how many hashes are timed per candidate; the median
	// counts. Default 3.
	Samples int
}

// Calibration is the result of [Calibrate].
type Calibration struct {
	// Params meet the OWASP minimum (see [Params.MeetsOWASP]) and are
	// ready for HasherConfig.Params.
	Params Params
	// Took is the median time of one hash with Params on this host.
	Took time.Duration
}

// Calibrate measures Argon2id on this host and returns the parameters whose
// hash takes about cfg.Target, never more unless even the OWASP minimum is
// slower (then it returns that minimum and Took tells by how much). It keeps
// Memory and raises the number of passes; if a single pass already exceeds
// Target, it spends the time it can afford on the most memory that still
// meets the OWASP minimum. Run it at deployment time on production hardware, not
// at every start: it hashes for a few seconds, and hashes made with other
// parameters report [Hasher.Verify]'s needsRehash. It returns ctx's error
// if ctx ends first.
func Calibrate(ctx context.Context, cfg CalibrateConfig) (Calibration, error) {
	return calibrate(ctx, cfg, func(p Params) time.Duration {
		pw, salt := make([]byte, 16), make([]byte, p.SaltLen)
		rand.Read(pw)
		rand.Read(salt)
		start := time.Now()
		argon2.IDKey(pw, salt, p.Time, p.Memory, p.Threads, p.KeyLen)
		return time.Since(start)
	})
}

func calibrate(ctx context.Context, cfg CalibrateConfig, measure func(Params) time.Duration) (Calibration, error) {
	d := DefaultParams()
	if cfg.Target == 0 {
		cfg.Target = 250 * time.Millisecond
	}
	if cfg.Memory == 0 {
		cfg.Memory = d.Memory
	}
	if cfg.Threads == 0 {
		cfg.Threads = d.Threads
	}
	if cfg.MaxTime == 0 {
		cfg.MaxTime = 16
	}
	if cfg.Samples == 0 {
		cfg.Samples = 3
	}
	switch {
	case cfg.Target < 0 || cfg.Samples < 0:
		return Calibration{}, errors.New("password: CalibrateConfig: Target and Samples must not be negative")
	case cfg.Memory < owaspMinimum[len(owaspMinimum)-1].memory || uint64(cfg.Memory) < 8*uint64(cfg.Threads):
		return Calibration{}, fmt.Errorf("password: CalibrateConfig.Memory %d KiB: at least 7168 KiB (and 8 × Threads) are needed to meet the OWASP minimum", cfg.Memory)
	}
	median := func(p Params) (time.Duration, error) {
		ds := make([]time.Duration, 0, cfg.Samples)
		for range cfg.Samples {
			if err := ctx.Err(); err != nil {
				return 0, fmt.Errorf("password: calibrate: %w", err)
			}
			ds = append(ds, measure(p))
		}
		slices.Sort(ds)
		return ds[len(ds)/2], nil
	}

	p := Params{Memory: cfg.Memory, Time: 1, Threads: cfg.Threads, SaltLen: d.SaltLen, KeyLen: d.KeyLen}
	one, err := median(p)
	if err != nil {
		return Calibration{}, err
	}
	lanes := 8 * uint64(p.Threads)
	if one <= cfg.Target {
		// Keep the memory, add passes.
		p.Time = uint32(min(max(int64(cfg.Target/one), 1), int64(cfg.MaxTime))) // #nosec G115 -- clamped to [1, cfg.MaxTime], itself a uint32
		p.Time = max(p.Time, minOWASPTime(p.Memory))
	} else {
		// Even one pass is too slow. Time grows with memory × passes:
		// spend the affordable budget on the most memory that meets
		// OWASP, or fall back to OWASP's floor within Memory.
		budget := float64(p.Memory) * float64(cfg.Target) / float64(one)
		found := false
		for t := uint32(1); t <= cfg.MaxTime && !found; t++ {
			m := min(uint64(budget/float64(t)), uint64(cfg.Memory))
			q := p
			q.Memory, q.Time = uint32(max(m/lanes*lanes, lanes)), t // #nosec G115 -- m is at most cfg.Memory (a uint32) rounded down to a multiple of lanes, or lanes (at most 8*255)
			if q.MeetsOWASP() {
				p, found = q, true
			}
		}
		if !found {
			p.Memory, p.Time = owaspFloor(cfg.Memory)
		}
	}
	took, err := median(p)
	if err != nil {
		return Calibration{}, err
	}
	// Time is not quite linear in passes: step down while over target,
	// but never below the OWASP minimum.
	for took > cfg.Target && p.Time > 1 {
		q := p
		q.Time--
		if !q.MeetsOWASP() {
			break
		}
		if took, err = median(q); err != nil {
			return Calibration{}, err
		}
		p = q
	}
	return Calibration{Params: p, Took: took}, nil
}

// minOWASPTime is the fewest passes that meet the OWASP minimum with m KiB
// (m must be at least 7168).
func minOWASPTime(m uint32) uint32 {
	for _, o := range owaspMinimum { // ordered by increasing time
		if m >= o.memory {
			return o.time
		}
	}
	return owaspMinimum[len(owaspMinimum)-1].time
}

// owaspFloor is the OWASP minimum configuration to use within budget KiB:
// m=19456 t=2 (OWASP's first choice) when it fits, else the one with the
// most memory that fits.
func owaspFloor(budget uint32) (memory, time uint32) {
	for _, o := range owaspMinimum[1:] {
		if budget >= o.memory {
			return o.memory, o.time
		}
	}
	last := owaspMinimum[len(owaspMinimum)-1]
	return last.memory, last.time
}
