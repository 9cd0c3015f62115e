use super::*;
use crate::route::RouteKey;
use extsvc_resolve::TargetScheme;
use http::uri::Authority;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A fake connection whose "driver" holds its slot, as the client's connection task
/// does: the slot is released when the last of the connection and its [`Driver`] goes.
struct FakeConn {
    id: usize,
    driver: Driver,
}

/// The other side of a [`FakeConn`]: keeps its slot after the pool dropped the
/// connection (a task still winding down), or ends it as a server closing it would.
#[derive(Clone)]
struct Driver {
    open: Arc<std::sync::atomic::AtomicBool>,
    slot: Arc<Mutex<Option<ConnectionSlot<FakeConn>>>>,
}

impl Driver {
    /// The connection is closed and its slot released.
    fn end(&self) {
        self.open.store(false, Ordering::Relaxed);
        let slot = self.slot.lock().unwrap().take();
        drop(slot);
    }
}

impl Poolable for FakeConn {
    fn is_open(&self) -> bool {
        self.driver.open.load(Ordering::Relaxed)
    }
}

static NEXT_ID: AtomicUsize = AtomicUsize::new(1);

fn settings(max_connections: usize, max_idle_per_host: usize, idle_timeout: Duration) -> PoolSettings {
    PoolSettings::new(max_connections, max_idle_per_host, idle_timeout)
}

fn key(host: &str) -> PoolKey {
    PoolKey::new(TargetScheme::Http, host, 80, RouteKey::Direct)
}

/// Checks out and, when granted a slot, "connects".
async fn get(pool: &Pool<FakeConn>, key: &PoolKey) -> (Pooled<FakeConn>, bool) {
    match pool.checkout(key).await.expect("no max_pending in these tests") {
        Checkout::Reused(p) => (p, true),
        Checkout::Connect(mut slot) => connect(pool, key, &mut slot),
    }
}

/// "Connects" with `slot`: a new connection whose driver holds the slot.
fn connect(pool: &Pool<FakeConn>, key: &PoolKey, slot: &mut ConnectionSlot<FakeConn>) -> (Pooled<FakeConn>, bool) {
    let slot_holder = Arc::new(Mutex::new(None));
    let conn = FakeConn {
        id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        driver: Driver {
            open: Arc::new(std::sync::atomic::AtomicBool::new(true)),
            slot: slot_holder.clone(),
        },
    };
    let pooled = pool.pooled(key.clone(), conn, slot);
    let taken = std::mem::replace(
        slot,
        ConnectionSlot {
            pool: None,
            key: None,
            track: None,
            generation: 0,
        },
    );
    *slot_holder.lock().unwrap() = Some(taken);
    (pooled, false)
}

/// (open, idle, waiting).
fn counts(pool: &Pool<FakeConn>) -> (usize, usize, usize) {
    let stats = pool.stats();
    (stats.open, stats.idle, stats.waiting)
}

fn done(mut conn: Pooled<FakeConn>) {
    conn.set_reusable(true);
}

async fn pending<F: std::future::Future>(fut: &mut Pin<Box<F>>) -> bool {
    tokio::time::timeout(Duration::from_millis(30), fut.as_mut())
        .await
        .is_err()
}

use std::pin::Pin;

#[tokio::test]
async fn the_cap_holds_and_a_closed_connection_frees_its_slot() {
    let pool = Pool::new(settings(2, 5, Duration::from_secs(60)));
    let (a, _) = get(&pool, &key("a")).await;
    let (_b, _) = get(&pool, &key("a")).await;
    assert_eq!(pool.stats().open, 2);
    let third_key = key("a");
    let mut third = Box::pin(get(&pool, &third_key));
    assert!(pending(&mut third).await, "a third connection must wait");
    assert_eq!(pool.stats().waiting, 1);
    drop(a); // not reusable: closed, its slot goes to the waiter
    let (_c, reused) = third.await;
    assert!(!reused);
    assert_eq!(pool.stats().open, 2);
}

#[tokio::test]
async fn a_returned_connection_is_handed_to_a_waiter_of_its_key() {
    let pool = Pool::new(settings(1, 5, Duration::from_secs(60)));
    let (a, _) = get(&pool, &key("a")).await;
    let first_id = a.id;
    let k = key("a");
    let mut waiter = Box::pin(get(&pool, &k));
    assert!(pending(&mut waiter).await);
    done(a);
    let (again, reused) = waiter.await;
    assert!(reused);
    assert_eq!(again.id, first_id, "the same connection, no churn");
    assert_eq!(pool.stats().open, 1);
}

#[tokio::test]
async fn a_waiter_for_another_host_evicts_an_idle_connection() {
    let pool = Pool::new(settings(1, 5, Duration::from_secs(60)));
    let (a, _) = get(&pool, &key("a")).await;
    done(a);
    assert_eq!(counts(&pool), (1, 1, 0));
    let (b, reused) = tokio::time::timeout(Duration::from_secs(1), get(&pool, &key("b")))
        .await
        .unwrap();
    assert!(!reused);
    assert_eq!(b.key().host(), "b");
    assert_eq!(counts(&pool), (1, 0, 0));
}

#[tokio::test]
async fn a_connection_returned_while_another_host_waits_is_closed_for_it() {
    let pool = Pool::new(settings(1, 5, Duration::from_secs(60)));
    let (a, _) = get(&pool, &key("a")).await;
    let kb = key("b");
    let mut waiter = Box::pin(get(&pool, &kb));
    assert!(pending(&mut waiter).await);
    done(a);
    let (b, reused) = tokio::time::timeout(Duration::from_secs(1), waiter).await.unwrap();
    assert!(!reused);
    assert_eq!(b.key().host(), "b");
    assert_eq!(pool.stats().idle, 0);
}

// Near the cap: room is made only for a waiter that needs it (module docs). Paused
// time: `pending` looks 30 ms ahead, short of HANDOVER_GRACE.

#[tokio::test(start_paused = true)]
async fn a_waiter_whose_key_is_in_use_takes_a_handover_and_leaves_other_keys_idle() {
    let pool = Pool::new(settings(2, 5, Duration::from_secs(60)));
    let (a, _) = get(&pool, &key("a")).await;
    let a_id = a.id;
    done(get(&pool, &key("b")).await.0);
    let ka = key("a");
    let mut waiter = Box::pin(get(&pool, &ka));
    assert!(pending(&mut waiter).await, "waits for a's connection in use");
    assert_eq!(pool.stats().idle, 1, "b's idle connection is not closed for it");
    done(a);
    let (again, reused) = waiter.await;
    assert!(reused);
    assert_eq!(again.id, a_id, "the same connection: nothing opened, nothing closed");
    assert_eq!(counts(&pool), (2, 1, 0));
}

#[tokio::test(start_paused = true)]
async fn after_the_grace_a_waiter_closes_another_keys_idle_connection() {
    let pool = Pool::new(settings(2, 5, Duration::from_secs(60)));
    let (_a, _) = get(&pool, &key("a")).await; // stays in use
    done(get(&pool, &key("b")).await.0);
    let started = Instant::now();
    let (second, reused) = get(&pool, &key("a")).await;
    assert!(!reused, "a new connection, in b's place");
    assert!(started.elapsed() >= HANDOVER_GRACE, "{:?}", started.elapsed());
    assert_eq!(second.key().host(), "a");
    assert_eq!(counts(&pool), (2, 0, 0));
}

#[tokio::test(start_paused = true)]
async fn after_the_grace_the_next_connection_returned_is_closed_for_the_waiter() {
    let pool = Pool::new(settings(2, 5, Duration::from_secs(60)));
    let (_a, _) = get(&pool, &key("a")).await; // stays in use
    let (b, _) = get(&pool, &key("b")).await;
    let ka = key("a");
    let mut waiter = Box::pin(get(&pool, &ka));
    assert!(pending(&mut waiter).await);
    tokio::time::sleep(HANDOVER_GRACE).await;
    assert!(pending(&mut waiter).await, "nothing idle to close yet");
    done(b);
    let (conn, reused) = tokio::time::timeout(Duration::from_secs(1), waiter).await.unwrap();
    assert!(!reused);
    assert_eq!(conn.key().host(), "a");
    assert_eq!(pool.stats().idle, 0, "b was closed, not kept idle");
}

#[tokio::test(start_paused = true)]
async fn a_freed_slot_goes_first_to_a_waiter_that_needs_room() {
    let pool = Pool::new(settings(2, 5, Duration::from_secs(60)));
    let (_a, _) = get(&pool, &key("a")).await; // stays in use
    let (b, _) = get(&pool, &key("b")).await;
    let ka = key("a");
    let mut for_a = Box::pin(get(&pool, &ka)); // first, but a's connection may come back
    assert!(pending(&mut for_a).await);
    let kc = key("c");
    let mut for_c = Box::pin(get(&pool, &kc)); // second, and nothing of c's will
    assert!(pending(&mut for_c).await);
    drop(b); // closed: its slot is freed
    let (c, reused) = tokio::time::timeout(Duration::from_millis(10), for_c).await.unwrap();
    assert!(!reused);
    assert_eq!(c.key().host(), "c");
    assert!(pending(&mut for_a).await, "a still waits for its own connection");
}

#[tokio::test(start_paused = true)]
async fn making_room_passes_over_idle_connections_already_closed() {
    let pool = Pool::new(settings(3, 5, Duration::from_secs(60)));
    let (_a1, _) = get(&pool, &key("a")).await; // stays in use
    let (b1, _) = get(&pool, &key("b")).await;
    let (b2, _) = get(&pool, &key("b")).await;
    let b1_driver = b1.driver.clone();
    done(b1); // the oldest idle connection...
    done(b2);
    b1_driver.end(); // ...closed by its server: its slot is free already
    let (_a2, _) = get(&pool, &key("a")).await; // takes that slot
    let (a3, reused) = tokio::time::timeout(Duration::from_secs(1), get(&pool, &key("a")))
        .await
        .expect("room is made by closing b2, not the dead b1");
    assert!(!reused);
    assert_eq!(a3.key().host(), "a");
    assert_eq!(pool.stats().idle, 0);
}

#[tokio::test(start_paused = true)]
async fn one_waiter_gets_one_connection_closed_while_its_slot_is_on_the_way() {
    let pool = Pool::new(settings(3, 5, Duration::from_secs(60)));
    let mut a = Vec::new();
    for _ in 0..3 {
        a.push(get(&pool, &key("a")).await.0);
    }
    let drivers: Vec<Driver> = a.iter().map(|c| c.driver.clone()).collect();
    let kc = key("c");
    let mut for_c = Box::pin(get(&pool, &kc)); // nothing of c's in use: needs room
    assert!(pending(&mut for_c).await);
    done(a.remove(0)); // closed for c; its driver still winds down
    done(a.remove(0)); // not closed as well: c is owed nothing more
    assert_eq!(pool.stats().idle, 1, "the second one is kept");
    assert!(pending(&mut for_c).await);
    drivers[0].end(); // the first one's slot is released
    let (c, reused) = tokio::time::timeout(Duration::from_millis(10), for_c).await.unwrap();
    assert!(!reused);
    assert_eq!(c.key().host(), "c");
}

#[tokio::test(start_paused = true)]
async fn a_key_that_keeps_handing_over_does_not_starve_an_earlier_new_key() {
    let pool = Pool::new(settings(2, 5, Duration::from_secs(60)));
    let (a1, _) = get(&pool, &key("a")).await;
    let (_b1, _) = get(&pool, &key("b")).await;
    let kc = key("c");
    let mut for_c = Box::pin(get(&pool, &kc)); // first, and needs room
    assert!(pending(&mut for_c).await);
    let ka = key("a");
    let mut for_a = Box::pin(get(&pool, &ka)); // second, a's connection will come back
    assert!(pending(&mut for_a).await);
    done(a1); // closed for c, not handed to the later waiter of a
    let (c, _) = tokio::time::timeout(Duration::from_millis(10), for_c).await.unwrap();
    assert_eq!(c.key().host(), "c");
    assert!(pending(&mut for_a).await);
}

#[tokio::test]
async fn idle_connections_per_key_are_bounded() {
    let pool = Pool::new(settings(10, 2, Duration::from_secs(60)));
    let mut conns = Vec::new();
    for _ in 0..4 {
        conns.push(get(&pool, &key("a")).await.0);
    }
    conns.into_iter().for_each(done);
    assert_eq!(counts(&pool), (2, 2, 0));
    // Reused most recent first.
    assert!(get(&pool, &key("a")).await.1);
}

#[test]
fn keys_compare_hosts_case_insensitively_however_made() {
    use std::collections::HashSet;
    let from_uri = PoolKey::from_authority(
        TargetScheme::Http,
        &Authority::from_static("Example.COM:80"),
        0..11,
        80,
        RouteKey::Direct,
    );
    let keys: HashSet<PoolKey> = [key("example.com"), key("EXAMPLE.com"), from_uri].into_iter().collect();
    assert_eq!(keys.len(), 1);
    assert_ne!(key("example.com"), key("example.org"));
    assert_ne!(
        key("example.com"),
        PoolKey::new(TargetScheme::Http, "example.com", 8080, RouteKey::Direct)
    );
}

#[test]
fn long_hosts_hash_alike_in_any_case_across_chunks() {
    use std::hash::BuildHasher;
    // Longer than the 64-byte buffer the hash lower-cases through: two chunks.
    let long = format!("{}.example.com", "a-label-of-some-length".repeat(5));
    let upper = long.to_ascii_uppercase();
    let std_state = std::hash::RandomState::new();
    assert_eq!(std_state.hash_one(key(&long)), std_state.hash_one(key(&upper)));
    let build = foldhash::fast::RandomState::default();
    assert_eq!(build.hash_one(key(&long)), build.hash_one(key(&upper)));
    assert_ne!(build.hash_one(key(&long)), build.hash_one(key(&format!("{long}x"))));
    assert_eq!(key(&long), key(&upper));
}

#[test]
fn keys_differ_in_each_part() {
    use std::hash::BuildHasher;
    let build = foldhash::fast::RandomState::default();
    let base = PoolKey::new(TargetScheme::Http, "example.com", 80, RouteKey::Direct);
    for other in [
        PoolKey::new(TargetScheme::Https, "example.com", 80, RouteKey::Direct),
        PoolKey::new(TargetScheme::Http, "example.co", 80, RouteKey::Direct),
        PoolKey::new(TargetScheme::Http, "example.com", 81, RouteKey::Direct),
        PoolKey::new(
            TargetScheme::Http,
            "example.com",
            80,
            RouteKey::Proxy(TargetScheme::Http),
        ),
    ] {
        assert_ne!(base, other, "{other:?}");
        assert_ne!(build.hash_one(&base), build.hash_one(&other), "{other:?}");
    }
    // The owned copy the pool's map keeps is the same key, with the same hash.
    let from_uri = PoolKey::from_authority(
        TargetScheme::Http,
        &Authority::from_static("EXAMPLE.com:80"),
        0..11,
        80,
        RouteKey::Direct,
    );
    let owned = from_uri.to_owned_host();
    assert_eq!(owned, base);
    assert_eq!(build.hash_one(&owned), build.hash_one(&base));
    assert_eq!(owned.host(), "EXAMPLE.com");
}

#[tokio::test]
async fn routes_do_not_share_connections() {
    let pool = Pool::new(settings(10, 2, Duration::from_secs(60)));
    let direct = key("a");
    let proxied = PoolKey::new(TargetScheme::Http, "a", 80, RouteKey::Proxy(TargetScheme::Http));
    done(get(&pool, &direct).await.0);
    assert!(
        !get(&pool, &proxied).await.1,
        "a direct connection is not reused through a proxy"
    );
    assert!(get(&pool, &direct).await.1);
}

#[tokio::test(start_paused = true)]
async fn idle_connections_expire() {
    let pool = Pool::new(settings(10, 2, Duration::from_secs(30)));
    done(get(&pool, &key("a")).await.0);
    assert_eq!(pool.stats().idle, 1);
    tokio::time::sleep(Duration::from_secs(31)).await;
    // The reaper ran (paused time auto-advances through its ticks).
    assert_eq!(counts(&pool), (0, 0, 0));
    assert!(!get(&pool, &key("a")).await.1);
}

/// Keys whose connections all failed (nothing ever idle) are forgotten by the reaper
/// too: a gateway failing to reach many hosts does not keep an entry for each.
#[tokio::test(start_paused = true)]
async fn keys_of_failed_connections_are_forgotten() {
    let pool = Pool::new(settings(10, 2, Duration::from_secs(30)));
    for host in ["dead-1", "dead-2", "dead-3"] {
        match pool.checkout(&key(host)).await.unwrap() {
            // The connection fails: its slot is dropped without a connection.
            Checkout::Connect(slot) => drop(slot),
            Checkout::Reused(_) => panic!("nothing to reuse"),
        }
    }
    assert_eq!(pool.shared.lock().keys.len(), 3);
    tokio::time::sleep(Duration::from_secs(31)).await;
    assert_eq!(pool.shared.lock().keys.len(), 0, "the reaper forgot them");
    assert_eq!(counts(&pool), (0, 0, 0));
}

#[tokio::test]
async fn a_cancelled_waiter_does_not_keep_a_slot() {
    let pool = Pool::new(settings(1, 5, Duration::from_secs(60)));
    let (a, _) = get(&pool, &key("a")).await;
    let ka = key("a");
    let mut cancelled = Box::pin(get(&pool, &ka));
    assert!(pending(&mut cancelled).await);
    let kb = key("b");
    let mut second = Box::pin(get(&pool, &kb));
    assert!(pending(&mut second).await);
    drop(cancelled);
    drop(a);
    let (b, _) = tokio::time::timeout(Duration::from_secs(1), second).await.unwrap();
    assert_eq!(b.key().host(), "b");
    drop(b);
    assert_eq!(pool.stats().open, 0);
}

#[tokio::test]
async fn a_connection_handed_to_a_waiter_that_gave_up_returns_to_the_pool() {
    let pool = Pool::new(settings(1, 5, Duration::from_secs(60)));
    let (a, _) = get(&pool, &key("a")).await;
    let ka = key("a");
    let mut waiter = Box::pin(get(&pool, &ka));
    assert!(pending(&mut waiter).await);
    done(a); // handed over into the waiter's channel...
    drop(waiter); // ...which is dropped before it looks
    assert_eq!(counts(&pool), (1, 1, 0));
    assert!(get(&pool, &key("a")).await.1);
}

// The controls: per-host cap, bounded wait queue, connection lifetime.

fn with_controls(
    max_connections: usize,
    per_host: Option<usize>,
    max_pending: Option<usize>,
    lifetime: Option<Duration>,
) -> PoolSettings {
    let mut pool = settings(max_connections, 5, Duration::from_secs(60));
    pool.max_connections_per_host = per_host;
    pool.max_pending = max_pending;
    pool.max_connection_lifetime = lifetime;
    pool
}

fn open_of(pool: &Pool<FakeConn>, key: &PoolKey) -> usize {
    pool.shared.lock().keys.get(key).map_or(0, |k| k.open)
}

#[tokio::test(start_paused = true)]
async fn a_host_at_its_cap_waits_for_its_own_connections_while_other_hosts_connect() {
    let pool = Pool::new(with_controls(10, Some(2), None, None));
    let (a1, _) = get(&pool, &key("a")).await;
    let (_a2, _) = get(&pool, &key("a")).await;
    let a1_id = a1.id;
    let ka = key("a");
    let mut third = Box::pin(get(&pool, &ka));
    assert!(pending(&mut third).await, "a is at its cap of 2");
    // Another host is not held up, and past the grace the waiter closes nothing.
    done(get(&pool, &key("b")).await.0);
    tokio::time::sleep(HANDOVER_GRACE * 3).await;
    assert!(pending(&mut third).await);
    assert_eq!(counts(&pool), (3, 1, 1), "b's idle connection is kept");
    done(a1);
    let (again, reused) = third.await;
    assert!(reused, "handed over");
    assert_eq!(again.id, a1_id);
    assert_eq!(open_of(&pool, &ka), 2);
}

#[tokio::test]
async fn a_host_at_its_cap_gets_a_slot_when_one_of_its_connections_closes() {
    let pool = Pool::new(with_controls(10, Some(1), None, None));
    let (a1, _) = get(&pool, &key("a")).await;
    let ka = key("a");
    let mut waiter = Box::pin(get(&pool, &ka));
    assert!(pending(&mut waiter).await);
    drop(a1); // not reusable: closed, its slot goes to the waiter
    let (a2, reused) = tokio::time::timeout(Duration::from_secs(1), waiter).await.unwrap();
    assert!(!reused);
    assert_eq!(a2.key().host(), "a");
    assert_eq!(open_of(&pool, &ka), 1);
}

#[tokio::test]
async fn a_freed_slot_passes_over_a_waiter_whose_host_is_at_its_cap() {
    let pool = Pool::new(with_controls(3, Some(2), None, None));
    let (_a1, _) = get(&pool, &key("a")).await;
    let (_a2, _) = get(&pool, &key("a")).await;
    let (c1, _) = get(&pool, &key("c")).await;
    let ka = key("a");
    let mut for_a = Box::pin(get(&pool, &ka)); // first in the queue, but a is full
    assert!(pending(&mut for_a).await);
    let kc = key("c");
    let mut for_c = Box::pin(get(&pool, &kc));
    assert!(pending(&mut for_c).await);
    drop(c1); // closed: its slot may go to c, not to a
    let (c2, reused) = tokio::time::timeout(Duration::from_secs(1), for_c).await.unwrap();
    assert!(!reused);
    assert_eq!(c2.key().host(), "c");
    assert!(pending(&mut for_a).await);
    assert_eq!(open_of(&pool, &ka), 2, "the per-host cap held");
    assert_eq!(pool.stats().open, 3, "the total cap held");
}

#[tokio::test]
async fn past_max_pending_a_checkout_fails_at_once() {
    let pool = Pool::new(with_controls(1, None, Some(1), None));
    let (a1, _) = get(&pool, &key("a")).await;
    let ka = key("a");
    let mut first = Box::pin(get(&pool, &ka));
    assert!(pending(&mut first).await);
    let refused = tokio::time::timeout(Duration::from_millis(10), pool.checkout(&key("b")))
        .await
        .expect("refused at once, not after waiting");
    assert_eq!(refused.err(), Some(PoolFull { max_pending: 1 }));
    // A waiter that gave up leaves room in the queue.
    drop(first);
    let mut second = Box::pin(get(&pool, &ka));
    assert!(pending(&mut second).await);
    done(a1);
    assert!(second.await.1);
    assert_eq!(pool.stats().peak_waiting, 1);
}

#[tokio::test]
async fn max_pending_zero_refuses_whenever_a_request_would_wait() {
    let pool = Pool::new(with_controls(1, None, Some(0), None));
    let (a1, _) = get(&pool, &key("a")).await;
    assert!(matches!(
        pool.checkout(&key("a")).await,
        Err(PoolFull { max_pending: 0 })
    ));
    done(a1);
    assert!(get(&pool, &key("a")).await.1, "an idle connection is still handed out");
}

#[tokio::test(start_paused = true)]
async fn a_connection_past_its_lifetime_is_not_handed_out_again() {
    let pool = Pool::new(with_controls(10, None, None, Some(Duration::from_secs(10))));
    done(get(&pool, &key("a")).await.0);
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (in_use, reused) = get(&pool, &key("a")).await;
    assert!(reused, "4 s old: still handed out");
    // Busy past its lifetime: it finishes its exchange, then closes instead of idling.
    tokio::time::sleep(Duration::from_secs(7)).await;
    done(in_use);
    assert_eq!(pool.stats().idle, 0);
    let (fresh, reused) = get(&pool, &key("a")).await;
    assert!(!reused, "a new connection");
    done(fresh);
    // Idle past its lifetime: the reaper, which sweeps every half lifetime, closes it
    // (the idle timeout is 60 s).
    tokio::time::sleep(Duration::from_secs(15)).await;
    assert_eq!(counts(&pool), (0, 0, 0));
    assert_eq!(pool.stats().closed, pool.stats().opened);
}

#[tokio::test(start_paused = true)]
async fn a_connection_past_its_lifetime_is_closed_rather_than_handed_to_a_waiter() {
    let pool = Pool::new(with_controls(1, None, None, Some(Duration::from_secs(10))));
    let (a1, _) = get(&pool, &key("a")).await;
    let a1_id = a1.id;
    tokio::time::sleep(Duration::from_secs(11)).await;
    let ka = key("a");
    let mut waiter = Box::pin(get(&pool, &ka));
    assert!(pending(&mut waiter).await);
    done(a1); // too old: closed, and its slot goes to the waiter
    let (a2, reused) = tokio::time::timeout(Duration::from_secs(1), waiter).await.unwrap();
    assert!(!reused);
    assert_ne!(a2.id, a1_id);
}

#[tokio::test]
async fn an_idle_connection_its_peer_closed_leaves_the_idle_count_with_its_slot() {
    // The root of `open: 0, idle: 1` after a `Connection: close` response: the body
    // ends, the connection goes back as reusable before its driver has seen the close,
    // then the driver ends and releases the slot.
    let pool = Pool::new(settings(10, 5, Duration::from_secs(60)));
    let (a1, _) = get(&pool, &key("a")).await;
    let driver = a1.driver.clone();
    done(a1);
    assert_eq!(counts(&pool), (1, 1, 0));
    driver.end();
    assert_eq!(counts(&pool), (0, 0, 0));
    let stats = pool.stats();
    assert_eq!((stats.opened, stats.closed), (1, 1));
}

#[tokio::test]
async fn the_pool_records_its_metrics_with_labels_built_per_key() {
    use crate::instruments::*;
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let labels = PoolLabels::new("webhooks", None, None);
    let pool = Pool::with_labels(
        settings(10, 1, Duration::from_secs(60)),
        labels,
        TlsGenerations::default(),
    );
    let (a1, _) = get(&pool, &key("Example.com")).await;
    let (a2, _) = get(&pool, &key("example.com")).await;
    done(a1);
    done(a2); // over max_idle_per_host: closed
    let (a3, reused) = get(&pool, &key("example.com")).await;
    assert!(reused);
    drop(a3);
    let snapshot = snapshotter.snapshot().into_vec();
    let value = |name: &str, extra: &[(&str, &str)]| {
        snapshot
            .iter()
            .find(|(k, _, _, _)| {
                let key = k.key();
                key.name() == name
                    && key
                        .labels()
                        .any(|l| l.key() == LABEL_SERVICE && l.value() == "webhooks")
                    && key.labels().any(|l| l.key() == LABEL_ROUTE && l.value() == "direct")
                    && key
                        .labels()
                        .any(|l| l.key() == LABEL_SERVER_ADDRESS && l.value() == "example.com")
                    && extra
                        .iter()
                        .all(|(ek, ev)| key.labels().any(|l| l.key() == *ek && l.value() == *ev))
            })
            .map(|(_, _, _, v)| v)
    };
    assert_eq!(value(CONNECTIONS_OPENED, &[]), Some(&DebugValue::Counter(2)));
    for reason in ["idle_limit", "not_reusable"] {
        assert_eq!(
            value(CONNECTIONS_CLOSED, &[(LABEL_CLOSE_REASON, reason)]),
            Some(&DebugValue::Counter(1)),
            "{reason}"
        );
    }
    assert_eq!(
        value(CONNECTIONS_CLOSED, &[(LABEL_CLOSE_REASON, "evicted")]),
        Some(&DebugValue::Counter(0))
    );
    match value(CONNECTION_DURATION, &[]) {
        Some(DebugValue::Histogram(lives)) => assert_eq!(lives.len(), 2),
        other => panic!("{other:?}"),
    }
    match value(POOL_WAIT_DURATION, &[]) {
        Some(DebugValue::Histogram(waits)) => assert_eq!(waits.len(), 3),
        other => panic!("{other:?}"),
    }
    for state in ["idle", "active"] {
        assert_eq!(
            value(OPEN_CONNECTIONS, &[(LABEL_CONNECTION_STATE, state)]),
            Some(&DebugValue::Gauge(0.0.into())),
            "{state}"
        );
    }
}

/// The cost of the metrics on the hot path (a reused connection: checkout, wait
/// recorded, gauges published twice, returned), with no recorder and with one.
/// `cargo test -p extsvc-client --lib measure_ -- --ignored --nocapture`.
#[tokio::test]
#[ignore = "a measurement, not a test: prints ns per checkout"]
async fn measure_the_metrics_cost_of_a_reused_checkout() {
    async fn cycles(pool: &Pool<FakeConn>, n: u32) -> Duration {
        let k = key("a");
        let started = std::time::Instant::now();
        for _ in 0..n {
            done(get(pool, &k).await.0);
        }
        started.elapsed()
    }
    const N: u32 = 200_000;
    let without = Pool::new(settings(10, 5, Duration::from_secs(60)));
    cycles(&without, 1000).await;
    let noop = cycles(&without, N).await;
    let recorder = metrics_util::debugging::DebuggingRecorder::new();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let with = Pool::new(settings(10, 5, Duration::from_secs(60)));
    cycles(&with, 1000).await;
    let recorded = cycles(&with, N).await;
    eprintln!(
        "reused checkout + return: {:.0} ns without a recorder, {:.0} ns with DebuggingRecorder",
        noop.as_nanos() as f64 / f64::from(N),
        recorded.as_nanos() as f64 / f64::from(N)
    );
}
