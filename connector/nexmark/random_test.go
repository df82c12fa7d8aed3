package nexmark

import (
	"math"
	"testing"
)

// The expected values in this file were printed by OpenJDK 17.0.15
// (java.util.Random and java.lang.Math), not derived by hand.

func TestJavaRandomMatchesJDK(t *testing.T) {
	type draw func(r *javaRandom) any
	nextInt := func(r *javaRandom) any { return r.nextInt() }
	nextIntn := func(bound int32) draw { return func(r *javaRandom) any { return r.nextIntn(bound) } }
	nextLong := func(r *javaRandom) any { return r.nextLong() }
	nextDouble := func(r *javaRandom) any { return r.nextDouble() }
	nextBoolean := func(r *javaRandom) any { return r.nextBoolean() }

	tests := []struct {
		name string
		seed int64
		draw draw
		want []any
	}{
		{"nextInt", 42, nextInt, []any{int32(-1170105035)}},
		{"nextInt/negative seed", -1, nextInt, []any{int32(1155099827), int32(1887904451), int32(52699159), int32(-1941176418), int32(-1451336087)}},
		{"nextIntn(10)", 42, nextIntn(10), []any{int32(0), int32(3), int32(8), int32(4), int32(0), int32(5), int32(5), int32(8)}},
		{"nextIntn(64)/power of two", 1, nextIntn(64), []any{int32(46), int32(6), int32(26), int32(26), int32(13), int32(2), int32(21), int32(42)}},
		// 2^30+1 rejects about half the draws, exercising the overflow test.
		{"nextIntn(2^30+1)/rejection", 5, nextIntn(1<<30 + 1), []any{int32(379250092), int32(189533474), int32(1049914506), int32(991787854), int32(963357722), int32(918177321), int32(596500747), int32(742486560)}},
		{"nextIntn(1e6)/MinInt64 seed", math.MinInt64, nextIntn(1000000), []any{int32(741360), int32(505948), int32(548029), int32(116447)}},
		{"nextLong", 0, nextLong, []any{int64(-4962768465676381896)}},
		{"nextLong/sequence", 123456789, nextLong, []any{int64(-6197403153606331135), int64(8429272609719263920), int64(7203573180470058788), int64(-1967508324443428465), int64(-4618295442963808721)}},
		{"nextDouble", 0, nextDouble, []any{0.730967787376657}},
		{"nextDouble/sequence", 7, nextDouble, []any{0.7306990420600421, 0.7491696031336331, 0.34830970303125697, 0.8972771427421047, 0.7081771577767972}},
		{"nextBoolean", 99, nextBoolean, []any{true, false, false, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newJavaRandom(tt.seed)
			for i, want := range tt.want {
				if got := tt.draw(&r); got != want {
					t.Errorf("draw %d: got %v, want %v (JDK)", i, got, want)
				}
			}
		})
	}
}

func TestJavaRandomSetSeedRestarts(t *testing.T) {
	r := newJavaRandom(42)
	first := []int32{r.nextInt(), r.nextInt(), r.nextInt()}
	r.setSeed(42)
	for i, want := range first {
		if got := r.nextInt(); got != want {
			t.Errorf("after setSeed, draw %d = %d, want %d", i, got, want)
		}
	}
	allocs := testing.AllocsPerRun(100, func() {
		r.setSeed(7)
		_ = r.nextIntn(1000)
	})
	if allocs != 0 {
		t.Errorf("setSeed+nextIntn allocates %v times, want 0", allocs)
	}
}

func TestNextIntnPanicsOnNonPositiveBound(t *testing.T) {
	for _, bound := range []int32{0, -1, math.MinInt32} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("nextIntn(%d) did not panic", bound)
				}
			}()
			r := newJavaRandom(1)
			r.nextIntn(bound)
		}()
	}
}

// TestNextLongMatchesBeam checks Beam's LongGenerator.nextLong on both of its
// paths against Math.abs(new Random(seed).nextLong() % n) on the JDK.
func TestNextLongMatchesBeam(t *testing.T) {
	tests := []struct {
		seed, n, want int64
	}{
		{1, 1 << 40, 605158859560},
		{1, math.MaxInt32, 1880209474},
		{1, 5000000000, 3893066024},
		{2, 1 << 40, 853438449160},
		{2, math.MaxInt32, 1049387414},
		{2, 5000000000, 4243013640},
		{42, 1 << 40, 871643575561},
		{42, math.MaxInt32, 2105424543},
		{42, 5000000000, 2975149833},
	}
	for _, tt := range tests {
		r := newJavaRandom(tt.seed)
		if got := nextLong(&r, tt.n); got != tt.want {
			t.Errorf("nextLong(seed %d, n %d) = %d, want %d (JDK)", tt.seed, tt.n, got, tt.want)
		}
	}
	// Below 2^31-1 it is one nextIntn draw.
	r1, r2 := newJavaRandom(9), newJavaRandom(9)
	if got, want := nextLong(&r1, 1010), int64(r2.nextIntn(1010)); got != want {
		t.Errorf("nextLong(1010) = %d, want nextIntn(1010) = %d", got, want)
	}
}
