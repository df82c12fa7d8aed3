// Package weir is a stateful stream-processing engine: a typed job API,
// keyed state, event time and windows, and an embedded parallel runtime.
//
// A job is an ordinary Go program:
//
//	env := weir.NewEnvironment(weir.WithParallelism(4))
//	src, err := nexmark.Bids(cfg)
//	...
//	bids := weir.FromSource(env, src, weir.BoundedOutOfOrderness[nexmark.Bid](4*time.Second)).UID("bids")
//	counts := weir.WindowAggregate(
//		weir.KeyBy(bids, func(b nexmark.Bid) int64 { return b.Auction }).
//			Window(window.TumblingEventTime(10*time.Second)),
//		countBids{}).UID("auction-counts")
//	weir.To(counts, stdout.Sink[Count]()).UID("out")
//	err := env.Execute(ctx, "hot-auctions")
//
// Records keep their Go types end to end: operators are generic functions
// (Map, FlatMap, KeyBy, Process, WindowAggregate, ...) and the runtime moves
// records between subtasks as Go values in batches, never boxed.
//
// Every operator has a stable 16-byte ID: the hash of its UID when it has
// one, otherwise derived from its position in the graph, so an unmodified job
// always gets the same IDs. State belongs to operators (not to the tasks
// operators are chained into), which is what lets savepoints survive changes
// to chaining and parallelism.
package weir
