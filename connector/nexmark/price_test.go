package nexmark

import (
	"math"
	"testing"
)

// TestPriceNearTie checks prices whose 10^y*100 falls within a few ulps of a
// half-integer, where Go's math.Pow and the JDK's Math.pow can round to
// different prices. The inputs are multiples of 2^-53 (values nextDouble can
// return) chosen to land near ties; want is
// Math.round(Math.pow(10.0, d*6.0)*100.0) on the JDK. On amd64, a plain
// round(math.Pow(10, 6d)*100) gets the first twelve wrong.
func TestPriceNearTie(t *testing.T) {
	tests := []struct {
		k    int64 // d = k * 2^-53
		want int64
	}{
		{148083948944045, 125},
		{153258284217722, 126},
		{377759265280914, 178},
		{409829475712640, 187},
		{482161421892019, 209},
		{569413396133698, 239},
		{603874737376146, 252},
		{616658731723295, 257},
		{631675813801215, 263},
		{636605612883748, 265},
		{677068844354845, 282},
		{738682819575423, 310},
		{3251691639821, 100},
		{1323562755885225, 761},
		{2251845651598288, 3163},
		{3117807498001808, 11936},
		{3970458888324030, 44143},
		{4816550091661432, 161609},
		{5661303506360407, 590453},
		{6507649903513845, 2162547},
		{7346063806493532, 7824588},
		{8194246338250880, 28738531},
	}
	pt := sharedPow10Table()
	for _, tt := range tests {
		d := float64(tt.k) * javaDoubleUnit
		if got := pt.priceOf(d); got != tt.want {
			t.Errorf("priceOf(%d * 2^-53) = %d, want %d (JDK)", tt.k, got, tt.want)
		}
	}
}

func TestPow10(t *testing.T) {
	if got, _ := ln10Big().Float64(); got != math.Ln10 {
		t.Errorf("ln 10 rounds to %v, want math.Ln10 = %v", got, math.Ln10)
	}
	pt := sharedPow10Table()
	// Integral powers of ten up to 10^22 are exact float64s; both paths must
	// return them exactly.
	p := 1.0
	for i := range 7 {
		if got, _ := pow10Big(float64(i)).Float64(); got != p {
			t.Errorf("pow10Big(%d) = %v, want %v", i, got, p)
		}
		if got := pt.pow10(float64(i)); got != p {
			t.Errorf("pow10(%d) = %v, want %v", i, got, p)
		}
		p *= 10
	}
	// The fast path stays within a few ulps of the correctly rounded value,
	// far inside the margin priceOf leaves before it falls back to the slow
	// path.
	r := newJavaRandom(3)
	worst := 0.0
	for range 20000 {
		y := r.nextDouble() * 6
		exact, _ := pow10Big(y).Float64()
		worst = max(worst, math.Abs(pt.pow10(y)-exact)/ulp(exact))
	}
	if worst > 3 {
		t.Errorf("pow10 is up to %v ulps from 10^y, want at most 3", worst)
	}
	t.Logf("pow10: worst error %v ulps", worst)
}

// TestPriceMatchesMathPow checks the fast price path against the
// straightforward round(math.Pow(10, 6d)*100) away from ties, where the two
// must agree.
func TestPriceMatchesMathPow(t *testing.T) {
	pt := sharedPow10Table()
	r := newJavaRandom(11)
	for range 200000 {
		d := r.nextDouble()
		v := math.Pow(10, d*6) * 100
		if math.Abs(v-math.Floor(v)-0.5) < 1e-6*v {
			continue
		}
		if got, want := pt.priceOf(d), int64(math.Round(v)); got != want {
			t.Fatalf("priceOf(%v) = %d, math.Pow gives %d", d, got, want)
		}
	}
}

func ulp(x float64) float64 {
	return math.Nextafter(x, math.Inf(1)) - x
}
