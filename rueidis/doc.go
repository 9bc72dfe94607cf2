// Package velorueidis makes velo the client-side cache of rueidis, the
// Redis client with server-assisted client-side caching (RESP3 CLIENT
// TRACKING, used by DoCache).
//
// [Stores] is a rueidis.CacheStore factory: pass its NewCacheStore as
// rueidis.ClientOption.NewCacheStoreFn and every connection caches its
// DoCache replies, marshalled, in a velo cache of its own, under a budget
// of Options.MaxBytes or ClientOption.CacheSizeEachConn. The store
// promises:
//
//   - a reply is served locally only until the earlier of the server's
//     PTTL (read with it, and counted from when the request was sent)
//     and the client-side TTL of the DoCache call that sent the request
//     (later calls that hit do not shorten it);
//   - lookups of one key and command that miss together send one
//     request: the first sends it, the others wait for its reply;
//   - an invalidation message from the server drops every cached reply
//     of its keys (a null one drops every key), and a reply whose key was
//     invalidated while its request was in flight is handed to its
//     callers but never stored;
//   - a connection that closes or breaks drops its whole cache and fails
//     the requests in flight; its replacement starts empty;
//   - the bookkeeping beside velo (the current epoch of each key, see
//     [Store], and the requests in flight) holds only what is cached or
//     in flight now: velo's OnRemove reports every reply that leaves,
//     and an epoch goes with its last reply. It is kept in maps of
//     integers, which the garbage collector does not walk.
//
// [Client] is a read-through cache on top: GetOrLoad reads a key through
// the local copy and, on a Redis miss, calls a load function once per key
// in the process, stores its value in Redis and returns it. Set and
// Delete write Redis and drop the local copies before they return. It
// fails closed when Redis cannot be reached, unless
// ClientOptions.StaleIfError opts into serving the last verified value
// for a bounded time.
//
// What the server's tracking does not promise, this package cannot
// either: another process's write is seen once its invalidation message
// arrives (microseconds to milliseconds on a healthy network), and a
// connection that stops without closing (a hung server, a partition) is
// noticed only by rueidis's pings (sent every ClientOption.Dialer.KeepAlive
// to an idle connection, given up after ClientOption.ConnWriteTimeout),
// until which the local copies are served.
//
// Nor can it match a reply to its request by more than their order on
// the connection, which is all rueidis gives it. When a DoCache caller's
// context ends while its request is on the wire, rueidis cancels the
// request's record here but the request still gets its reply, and rueidis
// cannot say whether it was sent: so that late reply is taken as the
// reply to the next request for the same key and command, handed to that
// request's waiters and stored, even if the key was written and
// invalidated in between (the server's own invalidation, which follows
// the late reply on the connection, then drops the stored copy). Give
// DoCache contexts that outlast a round trip where a stale read matters
// ([Client.GetOrLoad] passes its caller's context to DoCache).
package velorueidis
