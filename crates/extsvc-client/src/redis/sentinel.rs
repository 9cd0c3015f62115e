//! Redis Sentinel over the storage connector: the master's address asked from the
//! sentinels in turn (a sentinel that is down or does not know the master is skipped),
//! checked with `ROLE`, kept until a command on it fails in a way a failover causes, then
//! asked again.

use std::sync::Mutex;

use ::redis::aio::ConnectionLike;
use ::redis::{Cmd, Pipeline, RedisError, RedisResult, ServerErrorKind, Value};

use super::nodes::{lost_node, Nodes};
use super::{into_redis_error, RedisClient};
use crate::error::{Error, ErrorKind};

pub(super) struct Sentinel {
    /// The master and its replicas (with the storage credentials).
    nodes: Nodes,
    /// The sentinels (with `sentinel_password`).
    sentinels: Nodes,
    addresses: Vec<String>,
    master_name: String,
    /// The master in use, until a failure says to ask again.
    master: Mutex<Option<String>>,
    asking: tokio::sync::Mutex<()>,
}

impl Sentinel {
    pub(super) fn new(nodes: Nodes, sentinels: Nodes, addresses: Vec<String>, master_name: String) -> Sentinel {
        Sentinel {
            nodes,
            sentinels,
            addresses,
            master_name,
            master: Mutex::new(None),
            asking: tokio::sync::Mutex::new(()),
        }
    }

    pub(super) fn nodes(&self) -> &Nodes {
        &self.nodes
    }

    pub(super) fn sentinel_nodes(&self) -> &Nodes {
        &self.sentinels
    }

    fn known(&self) -> Option<String> {
        self.master.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The master's client: the one in use, or the one the sentinels name now.
    pub(super) async fn master(&self) -> Result<RedisClient, Error> {
        if let Some(address) = self.known() {
            return self.nodes.get(&address);
        }
        let _asking = self.asking.lock().await;
        if let Some(address) = self.known() {
            return self.nodes.get(&address);
        }
        let mut failures = Vec::new();
        for sentinel in &self.addresses {
            match self.ask(sentinel).await {
                Ok(address) => {
                    *self.master.lock().unwrap_or_else(|e| e.into_inner()) = Some(address.clone());
                    return self.nodes.get(&address);
                }
                Err(e) => failures.push(format!("{}: {e}", extsvc_config::shown(sentinel))),
            }
        }
        Err(Error::new(
            ErrorKind::Redis,
            format!(
                "no sentinel named a usable master \"{}\" ({})",
                extsvc_config::shown(&self.master_name),
                failures.join("; ")
            ),
        ))
    }

    /// Asks one sentinel for the master, and the master whether it is one.
    async fn ask(&self, sentinel: &str) -> Result<String, String> {
        let text = |e: RedisError| extsvc_config::escaped(&e.to_string()).to_string();
        let mut client = self.sentinels.get(sentinel).map_err(|e| e.to_string())?;
        let reply = client
            .req_packed_command(
                ::redis::cmd("SENTINEL")
                    .arg("get-master-addr-by-name")
                    .arg(&self.master_name),
            )
            .await
            .and_then(|v| v.extract_error())
            .map_err(text)?;
        let address = match &reply {
            Value::Array(parts) if parts.len() == 2 => {
                let part = |v: &Value| match v {
                    Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
                    Value::SimpleString(s) => Some(s.clone()),
                    _ => None,
                };
                match (part(&parts[0]), part(&parts[1]).and_then(|p| p.parse::<u16>().ok())) {
                    (Some(host), Some(port)) if !host.is_empty() && port != 0 => {
                        if host.contains(':') {
                            format!("[{host}]:{port}")
                        } else {
                            format!("{host}:{port}")
                        }
                    }
                    _ => return Err("an answer that is not host and port".to_owned()),
                }
            }
            Value::Nil => return Err("does not know this master".to_owned()),
            _ => return Err("an answer that is not host and port".to_owned()),
        };
        // A sentinel can name the old master for a moment after a failover: ask it.
        let mut master = self.nodes.get(&address).map_err(|e| e.to_string())?;
        let role = master
            .req_packed_command(&::redis::cmd("ROLE"))
            .await
            .and_then(|v| v.extract_error())
            .map_err(|e| format!("master {}: {}", extsvc_config::shown(&address), text(e)))?;
        match role {
            Value::Array(parts) if matches!(parts.first(), Some(Value::BulkString(b)) if b == b"master") => Ok(address),
            _ => Err(format!("{} is not a master (ROLE)", extsvc_config::shown(&address))),
        }
    }

    /// The replicas the sentinels know of the master (0 when none answers).
    pub(super) async fn replicas(&self) -> usize {
        for sentinel in &self.addresses {
            let Ok(mut client) = self.sentinels.get(sentinel) else {
                continue;
            };
            let asked = client
                .req_packed_command(::redis::cmd("SENTINEL").arg("replicas").arg(&self.master_name))
                .await
                .and_then(|v| v.extract_error());
            if let Ok(Value::Array(replicas)) = asked {
                return replicas.len();
            }
        }
        0
    }

    /// After a failed command: a failure a failover causes (the master gone, or now a
    /// replica refusing writes) makes the next command ask the sentinels again.
    fn after(&self, address: &str, e: &RedisError) {
        let failover = lost_node(
            e,
            &[
                ServerErrorKind::ReadOnly,
                ServerErrorKind::MasterDown,
                ServerErrorKind::BusyLoading,
            ],
        );
        if failover {
            let mut master = self.master.lock().unwrap_or_else(|e| e.into_inner());
            if master.as_deref() == Some(address) {
                *master = None;
            }
        }
    }

    pub(super) async fn command(&self, cmd: &Cmd) -> RedisResult<Value> {
        let mut master = self.master().await.map_err(into_redis_error)?;
        let address = master.target().to_owned();
        let outcome = master.req_packed_command(cmd).await;
        if let Err(e) = &outcome {
            self.after(address_of(&address), e);
        } else if let Ok(Value::ServerError(e)) = &outcome {
            self.after(address_of(&address), &RedisError::from(e.clone()));
        }
        outcome
    }

    pub(super) async fn pipeline(&self, pipeline: &Pipeline, offset: usize, count: usize) -> RedisResult<Vec<Value>> {
        let mut master = self.master().await.map_err(into_redis_error)?;
        let address = master.target().to_owned();
        let outcome = master.req_packed_commands(pipeline, offset, count).await;
        match &outcome {
            Err(e) => self.after(address_of(&address), e),
            Ok(values) => {
                if let Some(Value::ServerError(e)) = values.iter().find(|v| matches!(v, Value::ServerError(_))) {
                    self.after(address_of(&address), &RedisError::from(e.clone()));
                }
            }
        }
        outcome
    }
}

/// `host:port` of a node client's target (`redis://host:port`).
fn address_of(target: &str) -> &str {
    target.split_once("://").map_or(target, |(_, rest)| rest)
}
