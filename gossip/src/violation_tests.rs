//! A misbehaving peer on the real network: a bare libp2p swarm whose request-response codec
//! writes raw bytes, so it can send frames that [`Gossip`] itself refuses to send.

use std::{io, time::Duration};

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, StreamExt};
use libp2p::{
    noise,
    request_response::{self, ProtocolSupport},
    swarm::SwarmEvent,
    tcp, yamux, StreamProtocol, Swarm, SwarmBuilder,
};

use crate::{sync::SYNC_STREAM_PROTOCOL, Config, Error, Event, Gossip, Keypair, MAX_REQUEST_BYTES};

/// Writes requests and responses verbatim (they include the length prefix); reads whatever
/// comes, up to a bound.
#[derive(Debug, Clone, Copy, Default)]
struct RawCodec;

const RAW_READ_LIMIT: u64 = 1024 * 1024;

impl request_response::Codec for RawCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        let mut data = Vec::new();
        io.take(RAW_READ_LIMIT).read_to_end(&mut data).await?;
        Ok(data)
    }

    async fn read_response<T>(&mut self, p: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        self.read_request(p, io).await
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        r: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        io.write_all(&r).await
    }

    async fn write_response<T>(
        &mut self,
        p: &StreamProtocol,
        io: &mut T,
        r: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        self.write_request(p, io, r).await
    }
}

fn raw_swarm(protocol: StreamProtocol) -> Swarm<request_response::Behaviour<RawCodec>> {
    SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )
        .expect("tcp")
        .with_behaviour(|_| {
            request_response::Behaviour::with_codec(
                RawCodec,
                [(protocol, ProtocolSupport::Full)],
                request_response::Config::default(),
            )
        })
        .expect("behaviour")
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build()
}

/// `MAX + 1` as an unsigned varint: a length prefix just over the limit.
fn oversized_prefix(max: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = max as u64 + 1;
    while rest >= 0x80 {
        out.push((rest as u8 & 0x7f) | 0x80);
        rest >>= 7;
    }
    out.push(rest as u8);
    out
}

async fn next_violation(
    events: &mut tokio::sync::mpsc::Receiver<Event>,
) -> (libp2p::PeerId, String) {
    loop {
        match events.recv().await.expect("event stream ended") {
            Event::ProtocolViolation { peer, reason } => return (peer, reason),
            Event::Request { .. } => panic!("an invalid request reached the caller"),
            _ => {}
        }
    }
}

/// A Cove gossip node on loopback, without discovery: its handle, events and address.
async fn loopback_node() -> (
    Gossip,
    tokio::sync::mpsc::Receiver<Event>,
    libp2p::Multiaddr,
) {
    let mut config = Config::new(Keypair::generate_ed25519());
    config.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()];
    config.mdns = false;
    config.discovery = false;
    config.fast_timers = true;
    let (node, events) = Gossip::spawn(config).await.unwrap();
    let addr = node.listen_addrs().await.unwrap().remove(0);
    (node, events, addr)
}

#[tokio::test]
async fn oversized_frames_from_a_peer_are_violations() {
    // Scenario: ant is a Cove node; mole is a bare libp2p peer speaking the sync protocol with
    // a raw codec. Mole sends ant a request whose length prefix announces MAX_REQUEST_BYTES
    // + 1; then ant requests mole, which answers with a prefix announcing
    // MAX_RESPONSE_BYTES + 1.
    // Assert: ant reports Event::ProtocolViolation naming mole for each (and never hands the
    // bad request to the caller); ant's request fails with Error::Request.
    tokio::time::timeout(Duration::from_secs(60), async {
        let (ant, mut events, ant_addr) = loopback_node().await;

        let mut mole = raw_swarm(SYNC_STREAM_PROTOCOL);
        let mole_id = *mole.local_peer_id();
        mole.dial(ant_addr).unwrap();
        let mut body = oversized_prefix(MAX_REQUEST_BYTES);
        body.extend_from_slice(&[0xaa; 64]);
        mole.behaviour_mut()
            .send_request(&ant.local_peer_id(), body);

        // Mole runs in the background and answers any request with an oversized frame.
        let mole_task = tokio::spawn(async move {
            loop {
                if let SwarmEvent::Behaviour(request_response::Event::Message {
                    message: request_response::Message::Request { channel, .. },
                    ..
                }) = mole.select_next_some().await
                {
                    let mut frame = oversized_prefix(crate::MAX_RESPONSE_BYTES);
                    frame.extend_from_slice(&[0xbb; 64]);
                    let _ = mole.behaviour_mut().send_response(channel, frame);
                }
            }
        });

        let (peer, reason) = next_violation(&mut events).await;
        assert_eq!(peer, mole_id);
        assert!(reason.contains("bytes"), "{reason}");

        let err = ant
            .request(mole_id, b"history?".to_vec())
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::Request { peer, .. } if *peer == mole_id),
            "{err}"
        );
        let (peer, _) = next_violation(&mut events).await;
        assert_eq!(peer, mole_id);

        mole_task.abort();
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn a_version_1_sync_peer_gets_a_clear_error_both_ways() {
    // Scenario: ant is a Cove node (sync version 2); old is a bare libp2p peer that speaks
    // only /cove/sync/1.0.0. Each asks the other for sync.
    // Assert: stream negotiation fails both ways with "supports none of the requested
    // protocols", before any frame is exchanged; ant reports no violation and no request.
    tokio::time::timeout(Duration::from_secs(60), async {
        let (ant, mut events, ant_addr) = loopback_node().await;

        let mut old = raw_swarm(StreamProtocol::new("/cove/sync/1.0.0"));
        let old_id = *old.local_peer_id();
        old.dial(ant_addr).unwrap();
        old.behaviour_mut()
            .send_request(&ant.local_peer_id(), b"\x01\xa0".to_vec());
        let old_error = loop {
            if let SwarmEvent::Behaviour(request_response::Event::OutboundFailure {
                error, ..
            }) = old.select_next_some().await
            {
                break error;
            }
        };
        assert!(
            matches!(
                old_error,
                request_response::OutboundFailure::UnsupportedProtocols
            ),
            "{old_error}"
        );

        let old_task = tokio::spawn(async move {
            loop {
                old.select_next_some().await;
            }
        });
        let err = ant.request(old_id, b"hello?".to_vec()).await.unwrap_err();
        assert!(
            err.to_string()
                .contains("supports none of the requested protocols"),
            "{err}"
        );
        while let Ok(event) = events.try_recv() {
            assert!(
                !matches!(
                    event,
                    Event::ProtocolViolation { .. } | Event::Request { .. }
                ),
                "{event:?}"
            );
        }
        old_task.abort();
    })
    .await
    .expect("test timed out");
}
