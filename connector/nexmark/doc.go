// Package nexmark generates the events of the Nexmark benchmark (persons,
// auctions and bids of an online auction site) deterministically, following
// Apache Beam's Java generator.
//
// # Events as a pure function of their number
//
// Event number n (0, 1, 2, ...) has event id Config.FirstEventID + n. As in
// Beam, the id alone decides the event's type (out of every 50 ids by
// default: 1 person, 3 auctions, 46 bids) and seeds a bit-exact port of
// java.util.Random from which every random field is drawn, in Beam's order.
// The event time depends on n alone. So event n never depends on any other
// event: a source can generate any subset of the event numbers in any order,
// split them across parallel readers (for instance reader i of p taking
// i, i+p, i+2p, ...), and resume after a restore knowing only how many events
// it has emitted. A Generator holds no mutable state and is safe for
// concurrent use.
//
// Typical use:
//
//	g, err := nexmark.NewGenerator(nexmark.DefaultConfig())
//	...
//	var ev nexmark.Event
//	for n := int64(0); n < count; n++ {
//		g.Event(n, &ev)
//		// use ev.Type and ev.Person / ev.Auction / ev.Bid
//	}
//
// A bid, 92 % of the events, is generated without allocating; strings in the
// events share memory with read-only tables that all Generators share.
//
// # Relation to Beam and Flink
//
// With the default configuration, persons and auctions are Beam's
// (sdks/java/testing/nexmark) field for field except Extra, and bids have
// Beam's auction, bidder and price. The differences, all deliberate:
//
//   - One timeline: event n has timestamp
//     BaseTime + floor(n * 1e6/FirstEventRate) / 1000 ms, with the delay a
//     float64 as in the Flink nexmark repository (Beam rounds it to whole
//     microseconds; the two agree whenever the rate divides 10^6). There is
//     no out-of-order grouping (Beam's outOfOrderGroupSize = 1).
//   - Bids carry the channel and url columns of the Flink variant, drawn
//     where Flink draws them (after the price, before the extra): with
//     probability 1/2 one of Google, Facebook, Baidu and Apple, otherwise
//     "channel-<k>" for k < 10,000. Flink builds the URLs from unseeded
//     randoms; here they come from a fixed seed, so they are reproducible.
//   - Extra is cut, as in Flink, from a 1 MiB string generated once with
//     Beam's nextExactString from a fixed seed, at an offset drawn from the
//     event's random; its length follows Beam's nextExtra. Beam draws every
//     character instead, which is far slower.
//   - The bidder id adds FirstPersonID once, as Beam does; Flink adds it
//     twice, which breaks joins of bids with persons.
//   - Prices are round(10^(6u) * 100) as in Beam, but 10^x is computed so
//     that the price is the same on every platform; it equals the JDK's
//     except, about once in 10^12 prices, where the JDK's Math.pow is not
//     correctly rounded at a rounding tie.
//
// The equivalence was checked by running an independent Java implementation
// of Beam's generator with these changes on OpenJDK 17 and comparing its
// output with this package's for the first 20 million events and for
// windows of a million events at ids 10^10 and 2^40.
//
// One property of Beam's generator is worth knowing when reading results:
// java.util.Random's first draws are strongly correlated across consecutive
// seeds, so the first draw of a bid (hot auction or not) takes the same value
// for runs of several hundred consecutive events. The hot-auction share is
// 50 % on average but varies noticeably between short windows.
package nexmark
