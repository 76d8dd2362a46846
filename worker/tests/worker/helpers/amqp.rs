//! Publishing commands as the gateway does, and collecting replies by request id.

use super::{TestEnv, REPLY_WITHIN, SHARDS};
use chrono::Utc;
use futures::StreamExt;
use lapin::options::BasicPublishOptions;
use lapin::publisher_confirm::Confirmation;
use lapin::BasicProperties;
use protocol::batch::{BatchWriter, COMMAND_BATCH_TYPE, REPLY_BATCH_TYPE};
use protocol::command::{Command, CommandMessage, Envelope};
use protocol::event::EventSpec;
use protocol::ids::{EventId, RequestId};
use protocol::names::{AmqpNames, DIRECT_REPLY_TO};
use protocol::reply::{Outcome, Reply};

impl TestEnv {
    /// An envelope for `command` on `event`.
    pub(crate) fn envelope(event: EventId, command: Command) -> Envelope {
        Envelope {
            request_id: RequestId::new(),
            event_id: event,
            sent_at: Utc::now(),
            command,
        }
    }

    /// Publishes `env` as the gateway does (mandatory, persistent, direct reply-to,
    /// confirmed by the broker).
    pub(crate) async fn publish(&self, env: &Envelope) {
        let body = serde_json::to_vec(&CommandMessage::V1(env.clone())).unwrap();
        let id = env.request_id.to_string();
        let properties = BasicProperties::default()
            .with_correlation_id(id.clone().into())
            .with_message_id(id.into())
            .with_content_type("application/json".into());
        self.publish_to_shard(env.event_id, &body, properties).await;
    }

    /// Publishes `lines` (each a command's single-form body, or anything a test wants
    /// the worker to read) as one batch message to the shard of `event`, as the
    /// gateway's batcher does, confirmed by the broker.
    pub(crate) async fn publish_batch(&self, event: EventId, lines: &[Vec<u8>]) {
        let mut w = BatchWriter::new();
        for line in lines {
            w.push(line);
        }
        self.publish_batch_body(event, &w.finish()).await;
    }

    /// Publishes `body` as a batch message (AMQP `type` of the batch form) to the
    /// shard of `event`, confirmed by the broker.
    pub(crate) async fn publish_batch_body(&self, event: EventId, body: &[u8]) {
        let properties = BasicProperties::default()
            .with_type(COMMAND_BATCH_TYPE.into())
            .with_content_type("application/x-ndjson".into());
        self.publish_to_shard(event, body, properties).await;
    }

    /// Publishes `body` with `properties` to the shard queue of `event`: mandatory,
    /// persistent, replies to direct reply-to; panics unless the broker confirms it
    /// routed.
    async fn publish_to_shard(&self, event: EventId, body: &[u8], properties: BasicProperties) {
        let names = AmqpNames::new(self.namespace.clone());
        let shard = protocol::shard_of(&event, SHARDS);
        let confirm = self
            .channel
            .basic_publish(
                &names.commands_exchange(),
                &AmqpNames::shard_routing_key(shard),
                BasicPublishOptions {
                    mandatory: true,
                    ..Default::default()
                },
                body,
                properties
                    .with_reply_to(DIRECT_REPLY_TO.into())
                    .with_delivery_mode(2),
            )
            .await
            .expect("publish")
            .await
            .expect("publisher confirm");
        assert!(
            matches!(confirm, Confirmation::Ack(None)),
            "not routed: {confirm:?}"
        );
    }

    /// Publishes raw bytes to the shard of `event` (malformed-message tests).
    pub(crate) async fn publish_raw(&self, event: EventId, body: &[u8]) {
        let names = AmqpNames::new(self.namespace.clone());
        let shard = protocol::shard_of(&event, SHARDS);
        self.channel
            .basic_publish(
                &names.commands_exchange(),
                &AmqpNames::shard_routing_key(shard),
                BasicPublishOptions::default(),
                body,
                BasicProperties::default().with_reply_to(DIRECT_REPLY_TO.into()),
            )
            .await
            .unwrap()
            .await
            .unwrap();
    }

    /// Waits for the next reply batch message and returns its replies, as they arrive
    /// (before any other reply is read), so a test can look at Redis at that moment.
    pub(crate) async fn next_reply_batch(&mut self) -> Vec<Reply> {
        let d = tokio::time::timeout(REPLY_WITHIN, self.replies.next())
            .await
            .unwrap_or_else(|_| panic!("no reply within {REPLY_WITHIN:?}"))
            .expect("reply consumer ended")
            .expect("reply consumer failed");
        assert_eq!(
            d.properties.kind().as_ref().map(|k| k.as_str()),
            Some(REPLY_BATCH_TYPE),
            "a reply batch"
        );
        let replies: Vec<Reply> = protocol::batch::decode_replies(&d.data)
            .into_iter()
            .map(|r| r.expect("reply JSON"))
            .collect();
        self.reply_batches.push(replies.len());
        replies
    }

    /// Waits for the reply to `request`.
    pub(crate) async fn reply(&mut self, request: RequestId) -> Reply {
        self.reply_within(request, REPLY_WITHIN)
            .await
            .unwrap_or_else(|| panic!("no reply to {request} within {REPLY_WITHIN:?}"))
    }

    /// Waits at most `within` for the reply to `request` (replies to other requests
    /// that come meanwhile are kept for later).
    pub(crate) async fn reply_within(
        &mut self,
        request: RequestId,
        within: std::time::Duration,
    ) -> Option<Reply> {
        let id = request.to_string();
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(r) = self.received.remove(&id) {
                return Some(r);
            }
            let d = tokio::time::timeout_at(deadline, self.replies.next())
                .await
                .ok()?
                .expect("reply consumer ended")
                .expect("reply consumer failed");
            if d.properties.kind().as_ref().map(|k| k.as_str()) == Some(REPLY_BATCH_TYPE) {
                let replies = protocol::batch::decode_replies(&d.data);
                self.reply_batches.push(replies.len());
                for reply in replies {
                    let reply = reply.expect("reply JSON");
                    let id = reply.request_id.to_string();
                    assert!(
                        self.received.insert(id.clone(), reply).is_none(),
                        "two replies to {id}"
                    );
                }
                continue;
            }
            let reply: Reply = serde_json::from_slice(&d.data).expect("reply JSON");
            let cid = d
                .properties
                .correlation_id()
                .clone()
                .expect("correlation id");
            assert_eq!(cid.as_str(), reply.request_id.to_string());
            self.received.insert(cid.to_string(), reply);
        }
    }

    /// Request ids of replies received but not yet asked for (e.g. a second reply to
    /// a request already answered).
    pub(crate) fn unclaimed_replies(&self) -> Vec<String> {
        self.received.keys().cloned().collect()
    }

    /// Publishes `command` for `event` and waits for its outcome.
    pub(crate) async fn send(&mut self, event: EventId, command: Command) -> Outcome {
        let env = Self::envelope(event, command);
        self.publish(&env).await;
        self.reply(env.request_id).await.outcome
    }

    /// Creates an event from `spec`.
    pub(crate) async fn create_event(&mut self, spec: &EventSpec) -> EventId {
        self.create_event_with_id(EventId::new(), spec).await
    }

    /// Creates the event `event` from `spec`.
    pub(crate) async fn create_event_with_id(
        &mut self,
        event: EventId,
        spec: &EventSpec,
    ) -> EventId {
        let created = self
            .send(event, Command::CreateEvent { spec: spec.clone() })
            .await;
        assert!(matches!(created, Outcome::EventCreated(_)), "{created:?}");
        event
    }
}
