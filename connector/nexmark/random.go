package nexmark

// javaRandom is a bit-exact port of java.util.Random: a 48-bit linear
// congruential generator with Java's seed scrambling and Java's derivation of
// ints, longs and doubles from it.
//
// Beam's Nexmark generator seeds a fresh java.util.Random with each event id and
// draws every field of the event from it, so reproducing Beam's events requires
// reproducing this generator exactly, including Java's 32-bit wrapping
// arithmetic in nextIntn's rejection loop.
//
// The zero value is a generator with internal state 0, which is not the same as
// newJavaRandom(0); use setSeed before drawing. A javaRandom is a plain value:
// copying it forks the sequence, and reseeding it never allocates.
type javaRandom struct {
	seed uint64 // the 48-bit state; the upper 16 bits are always zero
}

const (
	javaMultiplier = 0x5DEECE66D
	javaAddend     = 0xB
	javaMask       = 1<<48 - 1

	// javaDoubleUnit is 2^-53, the weight of the lowest bit of a 53-bit
	// mantissa drawn by nextDouble.
	javaDoubleUnit = 1.0 / (1 << 53)
)

// newJavaRandom returns a generator in the state of `new java.util.Random(seed)`.
func newJavaRandom(seed int64) javaRandom {
	var r javaRandom
	r.setSeed(seed)
	return r
}

// setSeed puts r in the state of `new java.util.Random(seed)`.
func (r *javaRandom) setSeed(seed int64) {
	r.seed = (uint64(seed) ^ javaMultiplier) & javaMask
}

// next advances the state and returns its top bits (1 <= bits <= 32) as Java's
// Random.next(bits) does: for bits == 32 the result may be negative.
func (r *javaRandom) next(bits uint) int32 {
	r.seed = (r.seed*javaMultiplier + javaAddend) & javaMask
	return int32(uint32(r.seed >> (48 - bits)))
}

// nextInt returns a uniformly distributed int32, as Random.nextInt().
func (r *javaRandom) nextInt() int32 {
	return r.next(32)
}

// nextIntn returns a value in [0, bound), as Random.nextInt(int bound),
// including its fast path for powers of two and its rejection loop, whose test
// relies on int32 overflow. bound must be positive; nextIntn panics otherwise,
// as Java throws.
func (r *javaRandom) nextIntn(bound int32) int32 {
	if bound <= 0 {
		panic("nexmark: javaRandom.nextIntn: bound must be positive")
	}
	v := r.next(31)
	m := bound - 1
	if bound&m == 0 {
		return int32((int64(bound) * int64(v)) >> 31)
	}
	// u - (u % bound) is the start of the block of bound values u falls in;
	// adding m overflows exactly when that block is cut short by 2^31, in which
	// case u is rejected to keep the result uniform.
	for u := v; ; u = r.next(31) {
		v = u % bound
		if u-v+m >= 0 {
			return v
		}
	}
}

// nextLong returns a uniformly distributed int64, as Random.nextLong(): two
// 32-bit draws, the second added (signed) to the first shifted left by 32.
func (r *javaRandom) nextLong() int64 {
	hi := int64(r.next(32))
	lo := int64(r.next(32))
	return hi<<32 + lo
}

// nextDouble returns a value in [0, 1) built from 26 + 27 random bits, as
// Random.nextDouble().
func (r *javaRandom) nextDouble() float64 {
	hi := int64(r.next(26))
	lo := int64(r.next(27))
	return float64(hi<<27+lo) * javaDoubleUnit
}

// nextBoolean returns a random bool, as Random.nextBoolean().
func (r *javaRandom) nextBoolean() bool {
	return r.next(1) != 0
}
