//! The engine's lease against a real nats-server: a renewal whose answer was lost is recognised
//! as the node's own; a lease another node took is never renewed.

use crate::common::nats::{self, NatsServer};
use concert_reservation::cluster::lease::{Holder, Leases};
use std::time::Duration;

fn holder(node_id: &str, term: &str) -> Holder {
    Holder {
        node_id: node_id.into(),
        peer_url: format!("http://{node_id}.peer"),
        url: format!("http://{node_id}"),
        term: term.into(),
    }
}

async fn leases_on(server: &NatsServer) -> Leases {
    let js = async_nats::jetstream::new(nats::connect(&server.url()).await);
    Leases::open(&js, "test-leases", Duration::from_secs(5), 1)
        .await
        .expect("the bucket opens")
}

#[actix_rt::test]
async fn a_renewal_whose_answer_was_lost_is_recognised_and_the_lease_kept() {
    let server = NatsServer::start();
    let leases = leases_on(&server).await;
    let me = holder("node-1", "term-a");
    let held = leases.acquire("engine", &me).await.unwrap().expect("nobody holds it");
    // A renewal stored by JetStream whose answer never reached the node: it still knows `held`.
    leases.renew("engine", &me, held).await.unwrap().expect("renewed");
    let kept = leases.renew("engine", &me, held).await.unwrap();
    assert!(
        kept.is_some(),
        "the node's own earlier write is not a loss of the lease"
    );
    let kept = kept.unwrap();
    assert!(kept.revision > held.revision + 1, "renewed from the revision found");
    assert!(leases.renew("engine", &me, kept).await.unwrap().is_some());
}

#[actix_rt::test]
async fn a_lease_another_term_holds_is_not_renewed() {
    let server = NatsServer::start();
    let leases = leases_on(&server).await;
    let me = holder("node-1", "term-a");
    let held = leases.acquire("engine", &me).await.unwrap().expect("nobody holds it");
    leases.release("engine", held).await.unwrap();
    // The same node took it again under a new term, or another node took it: either way the
    // term that knew `held` has ended.
    for next in [holder("node-1", "term-b"), holder("node-2", "term-c")] {
        let taken = leases.acquire("engine", &next).await.unwrap().expect("free to take");
        assert!(
            leases.renew("engine", &me, held).await.unwrap().is_none(),
            "{next:?} holds it"
        );
        leases.release("engine", taken).await.unwrap();
    }
    assert!(
        leases.renew("engine", &me, held).await.unwrap().is_none(),
        "a lease given back is not renewed"
    );
}
