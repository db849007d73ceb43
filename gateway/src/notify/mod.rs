//! S3 bucket notifications. PutBucketNotificationConfiguration is validated here and
//! becomes a `BucketNotificationSet` event; [`webhook`] delivers matching events to the
//! webhook targets named in the server's configuration.
//!
//! A rule's destination is an ARN naming a configured webhook target:
//! `arn:rucket:sqs:<region>:<target id>:webhook` (MinIO's `arn:minio:sqs:...:webhook`
//! is accepted too, so `mc event add` works). Other destinations are refused.

pub mod delivery;

use std::collections::HashSet;

use rucket_schemas::{DestinationKind, NotificationConfig, NotificationRule};
use s3s::dto::{
    Event, FilterRule, FilterRuleName, LambdaFunctionConfiguration, NotificationConfiguration,
    NotificationConfigurationFilter, QueueConfiguration, S3KeyFilter, TopicConfiguration,
};
use s3s::{S3Error, S3ErrorCode, S3Result};

use rucket_feed::filter::EventPattern;
pub use rucket_feed::webhook::{rule_matches, webhook_id};

/// A webhook target from the server's configuration (`[[webhooks]]`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookTarget {
    /// The id that destination ARNs name.
    pub id: String,
    /// Where records are POSTed (http or https URL).
    pub endpoint: String,
    /// Sent as `Authorization: Bearer <token>` when set.
    pub auth_token: Option<String>,
}

impl WebhookTarget {
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.id.is_empty() || !self.id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            anyhow::bail!("webhook id `{}` must be letters, digits, `-` and `_`", self.id);
        }
        let url: reqwest::Url =
            self.endpoint.parse().map_err(|e| anyhow::anyhow!("webhook `{}` endpoint: {e}", self.id))?;
        if !matches!(url.scheme(), "http" | "https") {
            anyhow::bail!("webhook `{}` endpoint must be an http or https URL", self.id);
        }
        Ok(())
    }
}

fn invalid(message: impl Into<String>) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidArgument, message.into())
}

/// Validates an S3 notification configuration against the configured webhook targets
/// and converts it. The rules mirror S3's: known event names (`*` only at the last
/// level), at most one prefix and one suffix rule per filter, unique ids, and no two
/// rules that share an event type and could match the same key.
pub fn from_s3(config: NotificationConfiguration, targets: &[WebhookTarget]) -> S3Result<NotificationConfig> {
    if config.event_bridge_configuration.is_some() {
        return Err(crate::errors::not_implemented("EventBridge delivery"));
    }
    if let Some(topics) = config.topic_configurations.filter(|t| !t.is_empty()) {
        let TopicConfiguration { topic_arn, .. } = &topics[0];
        return Err(invalid(format!(
            "Unable to validate the following destination configurations: {topic_arn}: Rucket delivers to webhooks (QueueConfiguration with arn:rucket:sqs:<region>:<id>:webhook), not to SNS topics"
        )));
    }
    if let Some(lambdas) = config.lambda_function_configurations.filter(|l| !l.is_empty()) {
        let LambdaFunctionConfiguration { lambda_function_arn, .. } = &lambdas[0];
        return Err(invalid(format!(
            "Unable to validate the following destination configurations: {lambda_function_arn}: Rucket delivers to webhooks, not to Lambda functions"
        )));
    }
    let mut rules = Vec::new();
    let mut ids = HashSet::new();
    for queue in config.queue_configurations.unwrap_or_default() {
        let QueueConfiguration { events, filter, id, queue_arn } = queue;
        let Some(target) = webhook_id(&queue_arn) else {
            return Err(invalid(format!(
                "Unable to validate the following destination configurations: {queue_arn}: expected arn:rucket:sqs:<region>:<webhook id>:webhook"
            )));
        };
        if !targets.iter().any(|t| t.id == target) {
            return Err(invalid(format!(
                "Unable to validate the following destination configurations: {queue_arn}: no webhook `{target}` is configured on this server"
            )));
        }
        if events.is_empty() {
            return Err(invalid("A notification configuration must name at least one event"));
        }
        let mut names = Vec::new();
        for event in events {
            let name: String = event.into();
            if !name.starts_with("s3:") {
                return Err(invalid(format!("The event `{name}` is not supported for notifications")));
            }
            EventPattern::parse(&name)
                .map_err(|_| invalid(format!("The event `{name}` is not supported for notifications")))?;
            names.push(name);
        }
        let (prefix, suffix) = key_filter(filter)?;
        let id = id.filter(|i| !i.is_empty()).unwrap_or_else(|| hex::encode(rand::random::<[u8; 16]>()));
        if !ids.insert(id.clone()) {
            return Err(invalid(format!("Configuration id `{id}` is used more than once")));
        }
        rules.push(NotificationRule {
            id,
            destination: DestinationKind::Queue,
            arn: queue_arn,
            events: names,
            prefix,
            suffix,
        });
    }
    for (i, a) in rules.iter().enumerate() {
        for b in &rules[i + 1..] {
            if overlap(a, b) {
                return Err(invalid(format!(
                    "Configurations overlap. Configurations on the same bucket cannot share a common event type ({} and {}).",
                    a.id, b.id
                )));
            }
        }
    }
    Ok(NotificationConfig { rules })
}

fn key_filter(filter: Option<NotificationConfigurationFilter>) -> S3Result<(String, String)> {
    let rules = filter.and_then(|f| f.key).and_then(|k| k.filter_rules).unwrap_or_default();
    let (mut prefix, mut suffix) = (None, None);
    for FilterRule { name, value } in rules {
        let name = name.map(|n| n.as_str().to_ascii_lowercase()).unwrap_or_default();
        let slot = match name.as_str() {
            FilterRuleName::PREFIX => &mut prefix,
            FilterRuleName::SUFFIX => &mut suffix,
            other => {
                return Err(invalid(format!("filter rule name must be `prefix` or `suffix`, not `{other}`")))
            }
        };
        if slot.is_some() {
            return Err(invalid(format!("Cannot specify more than one {name} rule in a filter.")));
        }
        *slot = Some(value.unwrap_or_default());
    }
    Ok((prefix.unwrap_or_default(), suffix.unwrap_or_default()))
}

/// Whether two rules share an event type and a key both could match.
fn overlap(a: &NotificationRule, b: &NotificationRule) -> bool {
    let patterns = |r: &NotificationRule| {
        r.events.iter().filter_map(|e| EventPattern::parse(e).ok()).collect::<Vec<_>>()
    };
    let (pa, pb) = (patterns(a), patterns(b));
    let shares_event = pa.iter().any(|x| pb.iter().any(|y| x.overlaps(y)));
    let prefixes = a.prefix.starts_with(&b.prefix) || b.prefix.starts_with(&a.prefix);
    let suffixes = a.suffix.ends_with(&b.suffix) || b.suffix.ends_with(&a.suffix);
    shares_event && prefixes && suffixes
}

/// Renders a stored configuration as S3 returns it.
pub fn to_s3(config: &NotificationConfig) -> NotificationConfiguration {
    let queues: Vec<QueueConfiguration> = config
        .rules
        .iter()
        .map(|rule| {
            let mut filter_rules = Vec::new();
            for (name, value) in
                [(FilterRuleName::PREFIX, &rule.prefix), (FilterRuleName::SUFFIX, &rule.suffix)]
            {
                if !value.is_empty() {
                    filter_rules.push(FilterRule {
                        name: Some(FilterRuleName::from_static(name)),
                        value: Some(value.clone()),
                    });
                }
            }
            QueueConfiguration {
                events: rule.events.iter().cloned().map(Event::from).collect(),
                filter: (!filter_rules.is_empty()).then_some(NotificationConfigurationFilter {
                    key: Some(S3KeyFilter { filter_rules: Some(filter_rules) }),
                }),
                id: Some(rule.id.clone()),
                queue_arn: rule.arn.clone(),
            }
        })
        .collect();
    NotificationConfiguration {
        queue_configurations: (!queues.is_empty()).then_some(queues),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets() -> Vec<WebhookTarget> {
        vec![WebhookTarget {
            id: "audit".into(),
            endpoint: "http://127.0.0.1:1/hook".into(),
            auth_token: None,
        }]
    }

    fn queue(id: &str, events: &[&str], prefix: Option<&str>, suffix: Option<&str>) -> QueueConfiguration {
        let mut rules = Vec::new();
        if let Some(p) = prefix {
            rules.push(FilterRule {
                name: Some(FilterRuleName::from_static("prefix")),
                value: Some(p.into()),
            });
        }
        if let Some(s) = suffix {
            rules.push(FilterRule {
                name: Some(FilterRuleName::from_static("suffix")),
                value: Some(s.into()),
            });
        }
        QueueConfiguration {
            events: events.iter().map(|e| Event::from(e.to_string())).collect(),
            filter: Some(NotificationConfigurationFilter {
                key: Some(S3KeyFilter { filter_rules: Some(rules) }),
            }),
            id: Some(id.into()),
            queue_arn: "arn:rucket:sqs:us-east-1:audit:webhook".into(),
        }
    }

    fn config(queues: Vec<QueueConfiguration>) -> NotificationConfiguration {
        NotificationConfiguration { queue_configurations: Some(queues), ..Default::default() }
    }

    #[test]
    fn accepts_disjoint_rules_and_round_trips() {
        let c = config(vec![
            queue("a", &["s3:ObjectCreated:*"], Some("images/"), Some(".jpg")),
            queue("b", &["s3:ObjectCreated:Put"], Some("logs/"), None),
            queue("c", &["s3:ObjectRemoved:*"], Some("images/"), None),
        ]);
        let parsed = from_s3(c, &targets()).unwrap();
        assert_eq!(parsed.rules.len(), 3);
        assert!(rule_matches(&parsed.rules[0], "s3:ObjectCreated:Copy", "images/cat.jpg"));
        assert!(!rule_matches(&parsed.rules[0], "s3:ObjectCreated:Copy", "images/cat.png"));
        assert_eq!(from_s3(to_s3(&parsed), &targets()).unwrap(), parsed);
    }

    #[test]
    fn refuses_what_s3_refuses() {
        for (c, reason) in [
            (config(vec![queue("a", &["s3:ObjectCreated:Putt"], None, None)]), "not supported"),
            (config(vec![queue("a", &["s3:Object*"], None, None)]), "not supported"),
            (config(vec![queue("a", &["rucket:BucketCreated"], None, None)]), "not supported"),
            (
                config(vec![
                    queue("a", &["s3:ObjectCreated:*"], Some("images/"), None),
                    queue("b", &["s3:ObjectCreated:Put"], Some("images/2026/"), None),
                ]),
                "overlap",
            ),
            (
                config(vec![
                    queue("a", &["s3:ObjectCreated:*"], None, None),
                    queue("a", &["s3:ObjectRemoved:*"], None, None),
                ]),
                "more than once",
            ),
        ] {
            let err = from_s3(c, &targets()).unwrap_err();
            assert_eq!(err.code(), &S3ErrorCode::InvalidArgument);
            assert!(err.message().unwrap().contains(reason), "{:?}", err.message());
        }
        let mut two_prefixes = queue("a", &["s3:ObjectCreated:*"], Some("a"), None);
        two_prefixes
            .filter
            .as_mut()
            .unwrap()
            .key
            .as_mut()
            .unwrap()
            .filter_rules
            .as_mut()
            .unwrap()
            .push(FilterRule { name: Some(FilterRuleName::from_static("prefix")), value: Some("b".into()) });
        assert!(from_s3(config(vec![two_prefixes]), &targets()).is_err());
        let mut unknown_target = queue("a", &["s3:ObjectCreated:*"], None, None);
        unknown_target.queue_arn = "arn:rucket:sqs:us-east-1:nobody:webhook".into();
        assert!(from_s3(config(vec![unknown_target]), &targets())
            .unwrap_err()
            .message()
            .unwrap()
            .contains("nobody"));
        let topic = NotificationConfiguration {
            topic_configurations: Some(vec![TopicConfiguration {
                events: vec![Event::from("s3:ObjectCreated:*".to_owned())],
                filter: None,
                id: None,
                topic_arn: "arn:aws:sns:us-east-1:1:t".into(),
            }]),
            ..Default::default()
        };
        assert!(from_s3(topic, &targets()).unwrap_err().message().unwrap().contains("SNS"));
    }

    #[test]
    fn webhook_arns() {
        assert_eq!(webhook_id("arn:rucket:sqs:us-east-1:audit:webhook"), Some("audit"));
        assert_eq!(webhook_id("arn:minio:sqs::1:webhook"), Some("1"));
        assert_eq!(webhook_id("arn:aws:sqs:us-east-1:123:queue"), None);
    }
}
