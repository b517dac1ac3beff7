//! Groups of partitions spread over nodes by their leases, against a real nats-server: each
//! group is served by the node placement names, moves back when a node joins, is given back by a
//! node that stops, and is taken over once a dead node's lease has run out, never while it might
//! still be valid.

use crate::common::nats::{self, NatsServer};
use concert_reservation::cluster::lease::{Holder, Leases};
use concert_reservation::cluster::ownership::{Owner, Ownership};
use concert_reservation::cluster::placement;
use concert_reservation::error::Result;
use futures_util::future::BoxFuture;
use parking_lot::Mutex;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TTL: Duration = Duration::from_secs(3);
/// How long the groups may take to settle after a change: a dead node's leases run out after a
/// TTL, and its groups are taken at the next look after that.
const SETTLED_WITHIN: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, Copy, PartialEq)]
enum Change {
    Gained { valid_until: Instant },
    Renewed { valid_until: Instant },
    Lost,
}

/// What every test node was told, in the order it was told, each lease with its end.
#[derive(Default)]
struct Journal {
    changes: Mutex<Vec<(Instant, String, String, Change)>>,
}

struct Recorder {
    node: String,
    journal: Arc<Journal>,
}

impl Owner for Recorder {
    fn gained(&self, group: &str, _term: &str, valid_until: Instant) -> BoxFuture<'_, Result<()>> {
        self.note(group, Change::Gained { valid_until });
        Box::pin(async { Ok(()) })
    }

    fn renewed(&self, group: &str, valid_until: Instant) {
        self.note(group, Change::Renewed { valid_until });
    }

    fn lost(&self, group: &str) -> BoxFuture<'_, ()> {
        self.note(group, Change::Lost);
        Box::pin(async {})
    }
}

impl Recorder {
    fn note(&self, group: &str, change: Change) {
        let mut changes = self.journal.changes.lock();
        changes.push((Instant::now(), self.node.clone(), group.to_string(), change));
    }
}

impl Journal {
    /// Who serves each group now, as told; panics if two nodes ever served one group at once.
    /// A node serves a group until it is told it lost it or its lease runs out, whichever is
    /// first: one starved of time may hear of the loss late, but it stops at its lease's end.
    fn serving(&self) -> BTreeMap<String, BTreeSet<String>> {
        let mut serving: BTreeMap<String, BTreeMap<String, Instant>> = BTreeMap::new();
        let mut ran_out = BTreeSet::new();
        for (at, node, group, change) in self.changes.lock().iter() {
            let servers = serving.entry(group.clone()).or_default();
            match *change {
                Change::Gained { valid_until } => {
                    servers.retain(|server, until| {
                        let lapsed = *until <= *at;
                        if lapsed {
                            ran_out.insert((server.clone(), group.clone()));
                        }
                        !lapsed
                    });
                    assert!(
                        servers.insert(node.clone(), valid_until).is_none(),
                        "{node} gained {group} twice"
                    );
                    assert_eq!(servers.len(), 1, "{group} served by {servers:?} at once");
                }
                Change::Renewed { valid_until } => {
                    assert!(
                        servers.contains_key(node),
                        "{node} renewed {group} it did not serve: {servers:?}"
                    );
                    servers.insert(node.clone(), valid_until);
                }
                Change::Lost => assert!(
                    servers.remove(node).is_some() || ran_out.remove(&(node.clone(), group.clone())),
                    "{node} lost {group} it did not have"
                ),
            }
        }
        (serving.into_iter())
            .map(|(group, servers)| (group, servers.into_keys().collect()))
            .collect()
    }
}

struct TestNode {
    name: String,
    ownership: Arc<Ownership>,
    recorder: Arc<Recorder>,
    looking: tokio::task::JoinHandle<()>,
    /// Ends the looking after its current look, as a node's graceful stop does.
    stop: Arc<std::sync::atomic::AtomicBool>,
}

async fn leases_on(server: &NatsServer) -> Leases {
    let js = async_nats::jetstream::new(nats::connect(&server.url()).await);
    Leases::open(&js, "test-groups", TTL, 1).await.expect("the leases open")
}

async fn start_node(server: &NatsServer, name: &str, groups: &[String], journal: &Arc<Journal>) -> TestNode {
    let js = async_nats::jetstream::new(nats::connect(&server.url()).await);
    let leases = leases_on(server).await;
    let members = Leases::open(&js, "test-members", TTL, 1)
        .await
        .expect("the members open");
    let me = Holder {
        node_id: name.into(),
        peer_url: format!("http://{name}.peer"),
        url: format!("http://{name}"),
        term: String::new(),
    };
    let ownership = Arc::new(Ownership::new(leases, members, me));
    let recorder = Arc::new(Recorder {
        node: name.into(),
        journal: journal.clone(),
    });
    let (looking_ownership, looking_recorder, groups) = (ownership.clone(), recorder.clone(), groups.to_vec());
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopped = stop.clone();
    let looking = tokio::spawn(async move {
        while !stopped.load(std::sync::atomic::Ordering::Relaxed) {
            let _ = looking_ownership.announce().await;
            let _ = looking_ownership.look(&groups, &*looking_recorder).await;
            tokio::time::sleep(TTL / 3).await;
        }
    });
    TestNode {
        name: name.into(),
        ownership,
        recorder,
        looking,
        stop,
    }
}

fn groups() -> Vec<String> {
    (1..=12)
        .map(|day| format!("date.00000000-0000-4000-8000-00000000000{}.2026-12-{day:02}", day % 3))
        .collect()
}

/// Who placement says should serve each group among `nodes`.
fn placed(groups: &[String], nodes: &[&TestNode]) -> BTreeMap<String, BTreeSet<String>> {
    (groups.iter())
        .map(|group| {
            let owner = placement::owner(group, nodes.iter().map(|node| node.name.as_str())).expect("nodes");
            (group.clone(), BTreeSet::from([owner.to_string()]))
        })
        .collect()
}

/// Waits until the groups are served as placement over `nodes` says.
async fn settled(journal: &Journal, groups: &[String], nodes: &[&TestNode]) {
    let expected = placed(groups, nodes);
    let started = Instant::now();
    loop {
        let serving = journal.serving();
        if groups.iter().all(|group| serving.get(group) == expected.get(group)) {
            return;
        }
        assert!(
            started.elapsed() < SETTLED_WITHIN,
            "not settled within {SETTLED_WITHIN:?}: serving {serving:#?}, expected {expected:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_spread_over_the_nodes_move_to_a_joining_one_and_are_given_back_at_a_stop() {
    let server = NatsServer::start();
    let (journal, groups) = (Arc::new(Journal::default()), groups());
    let a = start_node(&server, "node-a", &groups, &journal).await;
    let b = start_node(&server, "node-b", &groups, &journal).await;
    settled(&journal, &groups, &[&a, &b]).await;
    let c = start_node(&server, "node-c", &groups, &journal).await;
    settled(&journal, &groups, &[&a, &b, &c]).await;
    let serving = journal.serving();
    for node in [&a, &b, &c] {
        let owned = serving.values().filter(|servers| servers.contains(&node.name)).count();
        assert!(owned > 0, "{} serves none of the 12 groups", node.name);
    }
    // A graceful stop: c looks no more, leaves the members and gives its groups back, so the
    // others need not wait for its leases to run out. Its last look ends first: a renewal cut
    // short would leave a lease of a revision c does not know, which it could not give back.
    c.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let looked_last = tokio::time::timeout(TTL * 3, c.looking).await;
    looked_last.expect("c's last look ends").expect("c's looking ends");
    let given_back: Vec<String> = (serving.into_iter())
        .filter(|(_, servers)| servers.contains(&c.name))
        .map(|(group, _)| group)
        .collect();
    c.ownership.leave(&*c.recorder).await;
    let leases = leases_on(&server).await;
    for group in &given_back {
        let holder = leases.holder(group).await.expect("JetStream answers");
        assert!(
            holder.is_none_or(|holder| holder.node_id != c.name),
            "{group} is still c's"
        );
    }
    settled(&journal, &groups, &[&a, &b]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_nodes_groups_are_taken_only_once_its_leases_have_run_out() {
    let server = NatsServer::start();
    let (journal, groups) = (Arc::new(Journal::default()), groups());
    let a = start_node(&server, "node-a", &groups, &journal).await;
    let b = start_node(&server, "node-b", &groups, &journal).await;
    let c = start_node(&server, "node-c", &groups, &journal).await;
    settled(&journal, &groups, &[&a, &b, &c]).await;
    // c dies: it neither looks nor gives anything back, and is never told it lost its groups.
    c.looking.abort();
    let orphaned = (journal.serving().into_values()).filter(|servers| servers.contains(&c.name));
    assert!(orphaned.count() > 0, "c served something");
    // The dead node is never told it lost anything: it serves its groups until its leases run
    // out, and `serving` panics if another node took one before then.
    settled(&journal, &groups, &[&a, &b]).await;
}
