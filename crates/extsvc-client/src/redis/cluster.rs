//! Redis Cluster over the storage connector: the slot map from `CLUSTER SLOTS`, each
//! command sent to the primary of its key's slot, `MOVED` and `ASK` followed, the map
//! asked again when a node fails or moves a slot (see `docs/architecture.md` for why this
//! is not redis-rs's cluster client).

use std::sync::{Arc, RwLock};
use std::time::Duration;

use ::redis::aio::ConnectionLike;
use ::redis::{Cmd, ErrorKind as RedisKind, Pipeline, RedisError, RedisResult, ServerErrorKind, Value};
use tokio::time::Instant;

use super::nodes::{lost_node, Nodes};
use super::{into_redis_error, RedisClient};
use crate::error::{Error, ErrorKind};

/// Redis Cluster's slot count.
const SLOTS: u16 = 16384;

/// The most replicas one slot range may list in `CLUSTER SLOTS`.
const MAX_REPLICAS: usize = 64;

/// Redirections followed for one command.
const MAX_REDIRECTS: usize = 5;

/// The map is asked again at most this often (failures of many commands at once ask once).
const REFRESH_SPACING: Duration = Duration::from_millis(100);

/// One range of slots and who serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SlotRange {
    start: u16,
    end: u16,
    primary: String,
    replicas: Vec<String>,
}

/// The slot map: ranges sorted by start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct SlotMap {
    ranges: Vec<SlotRange>,
}

impl SlotMap {
    fn primary_for(&self, slot: u16) -> Option<&str> {
        let i = self.ranges.partition_point(|r| r.end < slot);
        self.ranges
            .get(i)
            .filter(|r| r.start <= slot)
            .map(|r| r.primary.as_str())
    }

    /// The distinct primaries, in slot order.
    pub(super) fn primaries(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for range in &self.ranges {
            if !out.contains(&range.primary) {
                out.push(range.primary.clone());
            }
        }
        out
    }

    /// The distinct replicas.
    pub(super) fn replicas(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for replica in self.ranges.iter().flat_map(|r| &r.replicas) {
            if !out.contains(replica) {
                out.push(replica.clone());
            }
        }
        out
    }

    /// A `MOVED slot address`: the slot's range now names `address` (until the next
    /// refresh replaces the whole map).
    fn moved(&mut self, slot: u16, address: &str) {
        let i = self.ranges.partition_point(|r| r.end < slot);
        match self.ranges.get_mut(i).filter(|r| r.start <= slot) {
            Some(range) if range.start == range.end => range.primary = address.to_owned(),
            Some(range) => {
                // Split out the one slot.
                let mut single = range.clone();
                single.start = slot;
                single.end = slot;
                single.primary = address.to_owned();
                let before = SlotRange {
                    end: slot.wrapping_sub(1),
                    ..range.clone()
                };
                let after = SlotRange {
                    start: slot + 1,
                    ..range.clone()
                };
                let mut parts = Vec::with_capacity(3);
                if slot > range.start {
                    parts.push(before);
                }
                parts.push(single);
                if slot < range.end {
                    parts.push(after);
                }
                self.ranges.splice(i..=i, parts);
            }
            None => {
                self.ranges.insert(
                    i,
                    SlotRange {
                        start: slot,
                        end: slot,
                        primary: address.to_owned(),
                        replicas: Vec::new(),
                    },
                );
            }
        }
    }

    /// Parses a `CLUSTER SLOTS` reply from the node at `asked` (whose host stands in for
    /// an empty or unknown host in the reply).
    fn parse(reply: &Value, asked: &str) -> Option<SlotMap> {
        let asked_host = asked.rsplit_once(':').map_or(asked, |(h, _)| h);
        let Value::Array(entries) = reply else { return None };
        // At most one range per slot; a node lists a handful of replicas. A reply past
        // either is not a cluster's.
        if entries.len() > usize::from(SLOTS) {
            return None;
        }
        let mut ranges = Vec::with_capacity(entries.len());
        for entry in entries {
            let Value::Array(fields) = entry else { return None };
            let number = |v: &Value| match v {
                Value::Int(n) => u16::try_from(*n).ok().filter(|n| *n < SLOTS),
                _ => None,
            };
            let node = |v: &Value| {
                let Value::Array(parts) = v else { return None };
                let host = match parts.first()? {
                    Value::BulkString(b) => String::from_utf8(b.clone()).ok()?,
                    Value::SimpleString(s) => s.clone(),
                    _ => return None,
                };
                let port = match parts.get(1)? {
                    Value::Int(p) => u16::try_from(*p).ok().filter(|p| *p != 0)?,
                    _ => return None,
                };
                let host = if host.is_empty() || host == "?" {
                    asked_host.to_owned()
                } else if host.contains(':') && !host.starts_with('[') {
                    format!("[{host}]")
                } else {
                    host
                };
                Some(format!("{host}:{port}"))
            };
            let start = number(fields.first()?)?;
            let end = number(fields.get(1)?)?;
            if start > end {
                return None;
            }
            let primary = node(fields.get(2)?)?;
            if fields.len() > 3 + MAX_REPLICAS {
                return None;
            }
            let replicas = fields.iter().skip(3).filter_map(node).collect();
            ranges.push(SlotRange {
                start,
                end,
                primary,
                replicas,
            });
        }
        ranges.sort_by_key(|r| r.start);
        Some(SlotMap { ranges })
    }
}

/// CRC16/XMODEM (polynomial 0x1021), Redis Cluster's key hash.
fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in data {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The slot of `key`: the hash tag (`{…}`, when not empty) or the whole key.
pub(super) fn slot_of(key: &[u8]) -> u16 {
    let tagged = key.iter().position(|&b| b == b'{').and_then(|open| {
        let rest = &key[open + 1..];
        let close = rest.iter().position(|&b| b == b'}')?;
        (close > 0).then(|| &rest[..close])
    });
    crc16(tagged.unwrap_or(key)) % SLOTS
}

/// The key that decides where `cmd` goes, if it has one: the first argument for most
/// commands; the first key of `EVAL`/`EVALSHA`/`FCALL` (after the key count); the first
/// stream of `XREAD`/`XREADGROUP`. A command whose key is guessed wrong is answered
/// `MOVED`, which is followed. Borrowed from the command: nothing is copied per command.
fn key_of(cmd: &Cmd) -> Option<&[u8]> {
    let mut args = cmd.args_iter().filter_map(|a| match a {
        ::redis::Arg::Simple(bytes) => Some(bytes),
        _ => None,
    });
    let name = args.next()?;
    // Every name below fits; a longer one is an ordinary keyed command.
    let mut upper = [0u8; 12];
    let name = match upper.get_mut(..name.len()) {
        Some(upper) => {
            upper.copy_from_slice(name);
            upper.make_ascii_uppercase();
            &*upper
        }
        None => &[],
    };
    match name {
        b"PING" | b"INFO" | b"ECHO" | b"DBSIZE" | b"TIME" | b"FLUSHALL" | b"FLUSHDB" | b"SCAN" | b"KEYS"
        | b"RANDOMKEY" | b"CLUSTER" | b"CONFIG" | b"CLIENT" | b"COMMAND" | b"SCRIPT" | b"FUNCTION" | b"MULTI"
        | b"EXEC" | b"DISCARD" | b"AUTH" | b"SELECT" | b"HELLO" | b"ROLE" | b"READONLY" | b"READWRITE" | b"ASKING"
        | b"PUBLISH" | b"LASTSAVE" | b"MEMORY" | b"SLOWLOG" | b"LATENCY" | b"WAIT" => None,
        b"EVAL" | b"EVALSHA" | b"EVAL_RO" | b"EVALSHA_RO" | b"FCALL" | b"FCALL_RO" => {
            let count: usize = std::str::from_utf8(args.nth(1)?).ok()?.parse().ok()?;
            (count > 0).then(|| args.next()).flatten()
        }
        b"XREAD" | b"XREADGROUP" => {
            args.find(|a| a.eq_ignore_ascii_case(b"STREAMS"))?;
            args.next()
        }
        _ => args.next(),
    }
}

/// One command's deadline across redirections and asking for the slot map: armed only
/// when the first node's answer was not the end (that answer has its node's deadline,
/// kept without a timer per command).
pub(super) struct Budget {
    pub(super) deadline: Instant,
    pub(super) timeout: Duration,
}

impl Budget {
    pub(super) async fn bound<T>(&self, answer: impl std::future::Future<Output = RedisResult<T>>) -> RedisResult<T> {
        match tokio::time::timeout_at(self.deadline, answer).await {
            Ok(answered) => answered,
            Err(_) => Err(into_redis_error(Error::timeout(
                crate::error::Phase::ResponseHeaders,
                self.timeout,
            ))),
        }
    }
}

/// Redis Cluster through the storage connector.
pub(super) struct Cluster {
    nodes: Nodes,
    seeds: Vec<String>,
    map: RwLock<Arc<SlotMap>>,
    /// Held while the map is asked for; when it was last asked.
    refreshing: tokio::sync::Mutex<Option<Instant>>,
}

impl Cluster {
    pub(super) fn new(nodes: Nodes, seeds: Vec<String>) -> Cluster {
        Cluster {
            nodes,
            seeds,
            map: RwLock::new(Arc::new(SlotMap::default())),
            refreshing: tokio::sync::Mutex::new(None),
        }
    }

    pub(super) fn nodes(&self) -> &Nodes {
        &self.nodes
    }

    pub(super) fn map(&self) -> Arc<SlotMap> {
        self.map.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The slot map, asked for now when there is none yet.
    pub(super) async fn current_map(&self) -> Result<Arc<SlotMap>, Error> {
        let map = self.map();
        if !map.ranges.is_empty() {
            return Ok(map);
        }
        self.refresh(true).await?;
        Ok(self.map())
    }

    /// Asks the nodes for the slot map (the known primaries and replicas, then the seeds;
    /// the first that answers). Unless `force`, not again within [`REFRESH_SPACING`].
    pub(super) async fn refresh(&self, force: bool) -> Result<(), Error> {
        let mut last = self.refreshing.lock().await;
        if !force && last.is_some_and(|at| at.elapsed() < REFRESH_SPACING) {
            return Ok(());
        }
        *last = Some(Instant::now());
        let known = self.map();
        let mut candidates = known.primaries();
        candidates.extend(known.replicas());
        for seed in &self.seeds {
            if !candidates.contains(seed) {
                candidates.push(seed.clone());
            }
        }
        let mut failures = Vec::new();
        for address in &candidates {
            let asked = async {
                let mut node = self.nodes.get(address).map_err(into_redis_error)?;
                let reply = node.req_packed_command(::redis::cmd("CLUSTER").arg("SLOTS")).await?;
                Ok::<_, RedisError>(reply)
            };
            match asked.await {
                Ok(reply) => match SlotMap::parse(&reply, address) {
                    Some(map) if !map.ranges.is_empty() => {
                        let keep: Vec<String> = map.primaries().into_iter().chain(map.replicas()).collect();
                        *self.map.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(map);
                        let seeds = &self.seeds;
                        self.nodes
                            .retain(|a| keep.iter().any(|k| k == a) || seeds.iter().any(|s| s == a));
                        return Ok(());
                    }
                    _ => failures.push(format!(
                        "{}: not a usable CLUSTER SLOTS answer",
                        extsvc_config::shown(address)
                    )),
                },
                Err(e) => failures.push(format!(
                    "{}: {}",
                    extsvc_config::shown(address),
                    extsvc_config::escaped(&e.to_string())
                )),
            }
        }
        Err(Error::new(
            ErrorKind::Redis,
            format!("no Redis Cluster node answered CLUSTER SLOTS ({})", failures.join("; ")),
        ))
    }

    /// Asks for the map again in the background (at most every [`REFRESH_SPACING`]).
    fn refresh_soon(self: &Arc<Self>) {
        let this = self.clone();
        tokio::spawn(async move {
            // A failure shows in the next command's error.
            let _ = this.refresh(false).await;
        });
    }

    /// Where a command for `key` goes: the primary of its slot, or any primary.
    async fn target(&self, key: Option<&[u8]>) -> Result<String, Error> {
        let map = self.current_map().await?;
        primary_in(&map, key).map(str::to_owned).ok_or_else(no_slot)
    }

    /// The client of the node a command for `key` goes to, when the slot map is known
    /// (no waiting, no copy of the address).
    fn known_target(&self, key: Option<&[u8]>) -> Option<RedisClient> {
        let map = self.map();
        self.nodes.get(primary_in(&map, key)?).ok()
    }

    /// After a failure from a node: what to do next.
    fn after(self: &Arc<Self>, e: &RedisError) -> Next {
        if let Some((address, slot)) = e.redirect_node() {
            let address = address.to_owned();
            if matches!(e.kind(), RedisKind::Server(ServerErrorKind::Moved)) {
                let mut map = (*self.map()).clone();
                map.moved(slot, &address);
                *self.map.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(map);
                self.refresh_soon();
                return Next::Moved(address);
            }
            return Next::Ask(address);
        }
        if lost_node(
            e,
            &[
                ServerErrorKind::ClusterDown,
                ServerErrorKind::TryAgain,
                ServerErrorKind::MasterDown,
            ],
        ) {
            self.refresh_soon();
        }
        Next::Fail
    }

    /// `PING` to every primary of the slot map; a failed one makes the map be asked
    /// again, as a failed command does. How many answered.
    pub(super) async fn ping_primaries(self: &Arc<Self>) -> RedisResult<usize> {
        let map = self.current_map().await.map_err(into_redis_error)?;
        let primaries = map.primaries();
        for address in &primaries {
            let mut node = self.nodes.get(address).map_err(into_redis_error)?;
            let answered = node
                .req_packed_command(&::redis::cmd("PING"))
                .await
                .and_then(|v| v.extract_error());
            if let Err(e) = answered.and_then(expect_pong) {
                self.after(&e);
                return Err(e);
            }
        }
        Ok(primaries.len())
    }

    /// One command: to its slot's primary, redirections followed, all within `budget`.
    pub(super) async fn command(self: &Arc<Self>, cmd: &Cmd, budget: Budget) -> RedisResult<Value> {
        let key = key_of(cmd);
        // The usual case: the map is known and the node answers.
        let first = match self.known_target(key) {
            Some(mut node) => match node.req_packed_command(cmd).await.and_then(|v| v.extract_error()) {
                Ok(value) => return Ok(value),
                Err(e) => match self.after(&e) {
                    Next::Fail => return Err(e),
                    next => Some(next),
                },
            },
            None => None,
        };
        budget.bound(self.command_from(cmd, key, first)).await
    }

    /// A command after `first` (a redirection), or from asking for the map (`None`).
    async fn command_from(self: &Arc<Self>, cmd: &Cmd, key: Option<&[u8]>, first: Option<Next>) -> RedisResult<Value> {
        let (mut address, mut asking) = match first {
            Some(Next::Moved(to)) => (to, false),
            Some(Next::Ask(to)) => (to, true),
            _ => (self.target(key).await.map_err(into_redis_error)?, false),
        };
        for _ in 0..=MAX_REDIRECTS {
            let mut node = self.nodes.get(&address).map_err(into_redis_error)?;
            let outcome = if asking {
                let mut pipe = ::redis::pipe();
                pipe.add_command(::redis::cmd("ASKING")).add_command(cmd.clone());
                node.req_packed_commands(&pipe, 1, 1)
                    .await
                    .and_then(|mut values| values.pop().ok_or_else(no_answer))
            } else {
                node.req_packed_command(cmd).await
            };
            let e = match outcome.and_then(|v| v.extract_error()) {
                Ok(value) => return Ok(value),
                Err(e) => e,
            };
            match self.after(&e) {
                Next::Moved(to) => {
                    address = to;
                    asking = false;
                }
                Next::Ask(to) => {
                    address = to;
                    asking = true;
                }
                Next::Fail => return Err(e),
            }
        }
        Err(too_many_redirects())
    }

    /// A pipeline: to the primary of its first key's slot, within `budget`. When every
    /// command was answered with a redirection (none ran), it is sent once more where it
    /// points.
    pub(super) async fn pipeline(
        self: &Arc<Self>,
        pipeline: &Pipeline,
        offset: usize,
        count: usize,
        budget: Budget,
    ) -> RedisResult<Vec<Value>> {
        let key = pipeline.cmd_iter().find_map(key_of);
        let first = match self.known_target(key) {
            Some(mut node) => {
                let answered = node.req_packed_commands(pipeline, offset, count).await;
                match self.after_pipeline(answered) {
                    Ok(values) => return values,
                    Err(moved_to) => Some(moved_to),
                }
            }
            None => None,
        };
        budget
            .bound(async {
                let mut address = match first {
                    Some(to) => to,
                    None => self.target(key).await.map_err(into_redis_error)?,
                };
                for _ in 0..=MAX_REDIRECTS {
                    let mut node: RedisClient = self.nodes.get(&address).map_err(into_redis_error)?;
                    match self.after_pipeline(node.req_packed_commands(pipeline, offset, count).await) {
                        Ok(values) => return values,
                        Err(moved_to) => address = moved_to,
                    }
                }
                Err(too_many_redirects())
            })
            .await
    }

    /// A pipeline's answer: the values (or the error) to return, or the address a
    /// `MOVED` sends it to (every command redirected, or the connection's error one).
    fn after_pipeline(self: &Arc<Self>, answered: RedisResult<Vec<Value>>) -> Result<RedisResult<Vec<Value>>, String> {
        match answered {
            Ok(values) => {
                let redirected: Option<Vec<RedisError>> = values
                    .iter()
                    .map(|v| match v {
                        Value::ServerError(e) if matches!(e.kind(), Some(ServerErrorKind::Moved)) => {
                            Some(RedisError::from(e.clone()))
                        }
                        _ => None,
                    })
                    .collect();
                match redirected.as_deref() {
                    Some([first, ..]) => match self.after(first) {
                        Next::Moved(to) => Err(to),
                        _ => Ok(Ok(values)),
                    },
                    _ => Ok(Ok(values)),
                }
            }
            Err(e) => match self.after(&e) {
                Next::Moved(to) => Err(to),
                _ => Ok(Err(e)),
            },
        }
    }
}

/// The primary of `key`'s slot in `map`, or the first range's for a command without key.
fn primary_in<'m>(map: &'m SlotMap, key: Option<&[u8]>) -> Option<&'m str> {
    match key {
        Some(key) => map.primary_for(slot_of(key)),
        None => map.ranges.first().map(|r| r.primary.as_str()),
    }
}

fn no_slot() -> Error {
    Error::new(
        ErrorKind::Redis,
        "the Redis Cluster serves no slot for this key (CLUSTER SLOTS has a gap)",
    )
}

/// `+PONG`, or an error saying what came instead.
pub(super) fn expect_pong(value: Value) -> RedisResult<()> {
    match &value {
        Value::SimpleString(s) if s == "PONG" => Ok(()),
        other => Err(into_redis_error(Error::new(
            ErrorKind::Redis,
            format!(
                "a Redis primary answered PING with {} instead of +PONG",
                extsvc_config::escaped(&format!("{other:?}"))
            ),
        ))),
    }
}

enum Next {
    Moved(String),
    Ask(String),
    Fail,
}

fn no_answer() -> RedisError {
    into_redis_error(Error::new(
        ErrorKind::Redis,
        "the Redis node sent no answer to the command after ASKING",
    ))
}

fn too_many_redirects() -> RedisError {
    into_redis_error(Error::new(
        ErrorKind::Redis,
        format!("the Redis Cluster redirected the command more than {MAX_REDIRECTS} times"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_as_redis_cluster_computes_them() {
        // The examples of the Redis Cluster specification.
        assert_eq!(crc16(b"123456789"), 0x31C3);
        assert_eq!(slot_of(b"foo"), 12182);
        assert_eq!(slot_of(b"{user1000}.following"), slot_of(b"{user1000}.followers"));
        assert_eq!(slot_of(b"foo{}{bar}"), slot_of(b"foo{}{bar}"));
        assert_eq!(slot_of(b"foo{}{bar}"), crc16(b"foo{}{bar}") % SLOTS);
        assert_eq!(slot_of(b"foo{{bar}}zap"), crc16(b"{bar") % SLOTS);
        assert_eq!(slot_of(b"foo{bar}{zap}"), crc16(b"bar") % SLOTS);
    }

    #[test]
    fn keys_of_commands() {
        assert_eq!(key_of(::redis::cmd("GET").arg("k")), Some(&b"k"[..]));
        assert_eq!(key_of(::redis::cmd("get").arg("k")), Some(&b"k"[..]));
        assert_eq!(key_of(&::redis::cmd("ping")), None);
        assert_eq!(
            key_of(::redis::cmd("A-VERY-LONG-COMMAND-NAME").arg("k")),
            Some(&b"k"[..])
        );
        assert_eq!(key_of(&::redis::cmd("PING")), None);
        assert_eq!(
            key_of(::redis::cmd("EVAL").arg("return 1").arg(1).arg("k2")),
            Some(&b"k2"[..])
        );
        assert_eq!(key_of(::redis::cmd("EVAL").arg("return 1").arg(0)), None);
        assert_eq!(
            key_of(
                ::redis::cmd("XREAD")
                    .arg("COUNT")
                    .arg(1)
                    .arg("STREAMS")
                    .arg("s")
                    .arg("0")
            ),
            Some(&b"s"[..])
        );
    }

    #[test]
    fn the_map_parses_routes_and_takes_moves() {
        let node =
            |host: &str, port: i64| Value::Array(vec![Value::BulkString(host.as_bytes().to_vec()), Value::Int(port)]);
        let reply = Value::Array(vec![
            Value::Array(vec![
                Value::Int(5461),
                Value::Int(10922),
                node("", 7001),
                node("127.0.0.1", 7004),
            ]),
            Value::Array(vec![Value::Int(0), Value::Int(5460), node("127.0.0.1", 7000)]),
            Value::Array(vec![Value::Int(10923), Value::Int(16383), node("::1", 7002)]),
        ]);
        let mut map = SlotMap::parse(&reply, "10.0.0.9:7001").unwrap();
        assert_eq!(map.primary_for(0), Some("127.0.0.1:7000"));
        assert_eq!(map.primary_for(5461), Some("10.0.0.9:7001"));
        assert_eq!(map.primary_for(16383), Some("[::1]:7002"));
        assert_eq!(map.primaries().len(), 3);
        assert_eq!(map.replicas(), ["127.0.0.1:7004"]);
        map.moved(6000, "127.0.0.1:7005");
        assert_eq!(map.primary_for(6000), Some("127.0.0.1:7005"));
        assert_eq!(map.primary_for(5999), Some("10.0.0.9:7001"));
        assert_eq!(map.primary_for(6001), Some("10.0.0.9:7001"));
        assert!(SlotMap::parse(
            &Value::Array(vec![Value::Array(vec![Value::Int(0), Value::Int(99999)])]),
            "h:1"
        )
        .is_none());
    }
}
