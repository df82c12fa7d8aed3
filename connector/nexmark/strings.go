package nexmark

import (
	"math"
	"math/bits"
	"strconv"
	"sync"
)

// Word lists of Beam's PersonGenerator, in Beam's order (the index is drawn).
var (
	usStates   = [...]string{"AZ", "CA", "ID", "OR", "WA", "WY"}
	usCities   = [...]string{"Phoenix", "Los Angeles", "San Francisco", "Boise", "Portland", "Bend", "Redmond", "Seattle", "Kent", "Cheyenne"}
	firstNames = [...]string{"Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter"}
	lastNames  = [...]string{"Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris"}
)

// hotChannels are Flink's HOT_CHANNELS, in Flink's order.
var hotChannels = [...]string{"Google", "Facebook", "Baidu", "Apple"}

const (
	// minStringLength is the shortest string nextString draws (before
	// trimming).
	minStringLength = 3

	// extraPoolSize is the size of the pre-generated string that extra fields
	// are cut from (Flink's 1 MiB REUSABLE_EXTRA_STRING).
	extraPoolSize = 1 << 20

	// extraPoolSeed and channelSeed seed the javaRandoms that build the shared
	// tables. Flink builds the equivalent tables from unseeded randoms; fixed
	// seeds make them, and so every event, reproducible.
	extraPoolSeed int64 = 0x6e65786d61726b // "nexmark" in ASCII
	channelSeed         = extraPoolSeed + 1
)

// tables holds the read-only data shared by all Generators, built once.
type tables struct {
	// extraPool is extraPoolSize characters drawn as Beam's nextExactString
	// draws them; extra fields are substrings of it, so they cost no
	// allocation.
	extraPool string
	// names[f*len(lastNames)+l] is firstNames[f] + " " + lastNames[l].
	names [len(firstNames) * len(lastNames)]string
	// hotURLs[i] is the URL of hotChannels[i].
	hotURLs [len(hotChannels)]string
	// channels[k] is "channel-<k>" and urls[k] its URL.
	channels [numChannels]string
	urls     [numChannels]string
	// pow10 serves nextPrice.
	pow10 *pow10Table
}

var sharedTables = sync.OnceValue(buildTables)

func buildTables() *tables {
	t := &tables{pow10: sharedPow10Table()}

	r := newJavaRandom(extraPoolSeed)
	t.extraPool = string(appendExactString(make([]byte, 0, extraPoolSize), &r, extraPoolSize))

	for f, first := range firstNames {
		for l, last := range lastNames {
			t.names[f*len(lastNames)+l] = first + " " + last
		}
	}

	// The hot URLs first, then channel 0, 1, ...: each URL is three path
	// segments of nextString(5, '_'), and 9 in 10 non-hot channels (a
	// nextIntn(10) > 0 draw after the URL's) also get a channel_id parameter
	// equal to abs(Integer.reverse(k)), with Java's abs: channel 1's is
	// -2147483648.
	r = newJavaRandom(channelSeed)
	for i := range t.hotURLs {
		t.hotURLs[i] = string(appendBaseURL(nil, &r))
	}
	for k := range t.channels {
		t.channels[k] = "channel-" + strconv.Itoa(k)
		u := appendBaseURL(make([]byte, 0, 80), &r)
		if r.nextIntn(10) > 0 {
			id := int32(bits.Reverse32(uint32(k)))
			if id < 0 {
				id = -id // as Java's Math.abs, -MinInt32 stays negative
			}
			u = append(u, "&channel_id="...)
			u = strconv.AppendInt(u, int64(id), 10)
		}
		t.urls[k] = string(u)
	}
	return t
}

// appendBaseURL appends a URL of the shape Flink's BidGenerator gives a
// channel: https://www.nexmark.com/<s>/<s>/<s>/item.htm?query=1.
func appendBaseURL(b []byte, r *javaRandom) []byte {
	b = append(b, "https://www.nexmark.com/"...)
	for range 3 {
		b = appendString(b, r, 5, '_')
		b = append(b, '/')
	}
	return append(b, "item.htm?query=1"...)
}

// appendString appends what Beam's nextString(random, maxLength, special)
// returns: 3 + nextIntn(maxLength-3) characters, each special with
// probability 1/13 (one nextIntn(13) draw) and otherwise 'a' + nextIntn(26),
// then trimmed of leading and trailing spaces as Java's String.trim does
// (trim drops every char <= ' ', but only ' ' can occur here). maxLength must
// be in (3, 131].
func appendString(b []byte, r *javaRandom, maxLength int32, special byte) []byte {
	var tmp [128]byte
	n := minStringLength + r.nextIntn(maxLength-minStringLength)
	s := tmp[:n]
	for i := range s {
		if r.nextIntn(13) == 0 {
			s[i] = special
		} else {
			s[i] = 'a' + byte(r.nextIntn(26))
		}
	}
	for len(s) > 0 && s[0] <= ' ' {
		s = s[1:]
	}
	for len(s) > 0 && s[len(s)-1] <= ' ' {
		s = s[:len(s)-1]
	}
	return append(b, s...)
}

// appendExactString appends n characters as Beam's nextExactString draws
// them: six characters per nextInt, 'a' + rnd%26 with Java's signed
// remainder (so the characters range over 'H'..'z'), rnd /= 26 between them.
func appendExactString(b []byte, r *javaRandom, n int) []byte {
	var rnd int32
	left := 0
	for range n {
		if left == 0 {
			rnd = r.nextInt()
			left = 6
		}
		b = append(b, byte('a'+rnd%26))
		rnd /= 26
		left--
	}
	return b
}

// nextExtra returns padding such that currentSize plus its length is on
// average desiredAverageSize, as Beam's nextExtra: empty if currentSize
// exceeds the average, else of length d - delta + nextIntn(2*delta) with
// d = desiredAverageSize - currentSize and delta = round(0.2*d) (no draw when
// delta is 0). As Flink's generator, the characters are not drawn one by one
// but cut from the shared pool at an offset drawn with
// nextIntn(extraPoolSize - length).
func (t *tables) nextExtra(r *javaRandom, currentSize, desiredAverageSize int) string {
	if currentSize > desiredAverageSize {
		return ""
	}
	d := desiredAverageSize - currentSize
	delta := int(math.Round(float64(d) * 0.2))
	size := d - delta
	if delta != 0 {
		size += int(r.nextIntn(int32(2 * delta)))
	}
	off := int(r.nextIntn(int32(extraPoolSize - size)))
	return t.extraPool[off : off+size]
}
