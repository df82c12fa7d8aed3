package nexmark

import (
	"math"
	"math/big"
	"sync"
)

// Prices follow Beam's PriceGenerator: round(10^(6 * nextDouble()) * 100)
// cents, log-uniform in [100, 100_000_000].
//
// The JDK computes 10^y with Math.pow, nearly always correctly rounded. Here
// 10^y comes from a table of 10^(k/256) and a short polynomial, which is
// several times faster than math.Pow and within a few ulps of the exact
// value. That error, like the JDK's own, can change the price only when
// 10^y * 100 lies within a few ulps of a half-integer; in those rare cases
// (about one price in 10^9) the price is recomputed from a correctly rounded
// 10^y. Prices are therefore the same on every platform (whatever the
// compiler does with multiply-adds) and equal the JDK's wherever its
// Math.pow is correctly rounded.

// pow10Steps is the number of table entries per decade.
const pow10Steps = 256

// pow10Table[k] is 10^(k/pow10Steps) correctly rounded, for y in [0, 6].
type pow10Table [6*pow10Steps + 1]float64

var sharedPow10Table = sync.OnceValue(func() *pow10Table {
	t := new(pow10Table)
	step := pow10Big(1.0 / pow10Steps)
	v := new(big.Float).SetPrec(pow10Prec).SetInt64(1)
	for k := range t {
		t[k], _ = v.Float64()
		v.Mul(v, step)
	}
	return t
})

// nextPrice draws a price in cents.
func (t *pow10Table) nextPrice(r *javaRandom) int64 {
	return t.priceOf(r.nextDouble())
}

// priceOf is nextPrice given the drawn double d in [0, 1).
func (t *pow10Table) priceOf(d float64) int64 {
	y := d * 6
	v := t.pow10(y) * 100
	// v*2^-48 is at least 16 ulps of v, several times the error of pow10 and
	// of the JDK's Math.pow.
	if e := v - math.Floor(v) - 0.5; math.Abs(e) <= v*0x1p-48 {
		return priceNearTie(y)
	}
	return int64(math.Round(v))
}

// pow10 returns 10^y within about 3 ulps, for y in [0, 6].
func (t *pow10Table) pow10(y float64) float64 {
	s := y * pow10Steps
	k := int(s)
	// s - k is exact, and so is the division by a power of two.
	x := (s - float64(k)) / pow10Steps * math.Ln10 // in [0, 0.009)
	// exp(x) by its Taylor polynomial of degree 6; the first omitted term is
	// below 2^-59.
	p := 1 + x*(1+x*(1.0/2+x*(1.0/6+x*(1.0/24+x*(1.0/120+x*(1.0/720))))))
	return t[k] * p
}

// priceNearTie is priceOf's slow path: round(10^y * 100) with 10^y correctly
// rounded.
func priceNearTie(y float64) int64 {
	f, _ := pow10Big(y).Float64()
	return int64(math.Round(f * 100))
}

// pow10Prec is the working precision of pow10Big, enough to round 10^y
// correctly to 53 bits for any double y of practical interest.
const pow10Prec = 192

var ln10Big = sync.OnceValue(func() *big.Float {
	// ln 10 = 3 ln 2 + ln(5/4), with ln 2 = 2 atanh(1/3) and
	// ln(5/4) = 2 atanh(1/9).
	ln2 := atanhInv(3)
	ln2.Mul(ln2, big.NewFloat(6)) // 3 * 2
	ln54 := atanhInv(9)
	ln54.Mul(ln54, big.NewFloat(2))
	return ln2.Add(ln2, ln54)
})

// atanhInv returns atanh(1/k) = sum over n of 1/((2n+1) k^(2n+1)), k > 1.
func atanhInv(k int64) *big.Float {
	newF := func() *big.Float { return new(big.Float).SetPrec(pow10Prec) }
	x := newF().Quo(newF().SetInt64(1), newF().SetInt64(k))
	x2 := newF().Mul(x, x)
	eps := newF().SetMantExp(newF().SetInt64(1), -pow10Prec-8)
	sum, pow, term := newF(), newF().Set(x), newF()
	for n := int64(0); ; n++ {
		term.Quo(pow, newF().SetInt64(2*n+1))
		sum.Add(sum, term)
		if term.Cmp(eps) < 0 {
			return sum
		}
		pow.Mul(pow, x2)
	}
}

// pow10Big returns 10^y to about 180 bits, for 0 <= y <= 308.
func pow10Big(y float64) *big.Float {
	newF := func() *big.Float { return new(big.Float).SetPrec(pow10Prec) }
	// exp(z) = exp(z / 2^k)^(2^k): the Taylor series converges fast on the
	// reduced argument, and the k squarings cost k bits of the margin.
	const k = 12
	z := newF().SetFloat64(y)
	z.Mul(z, ln10Big())
	z.SetMantExp(z, -k)
	eps := newF().SetMantExp(newF().SetInt64(1), -pow10Prec-8)
	sum, term := newF().SetInt64(1), newF().SetInt64(1)
	for n := int64(1); ; n++ {
		term.Mul(term, z)
		term.Quo(term, newF().SetInt64(n))
		sum.Add(sum, term)
		if term.Cmp(eps) < 0 {
			break
		}
	}
	for range k {
		sum.Mul(sum, sum)
	}
	return sum
}
